"""Forge plugins: the hook specification, the plugin framework (configuration, conditions,
chains, loading, external MCP plugins), the built-in plugins and the guardrail scanners."""
