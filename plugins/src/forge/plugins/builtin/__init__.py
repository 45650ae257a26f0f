"""The built-in plugins, one module per plugin or small family (see forge.plugins.loader)."""
