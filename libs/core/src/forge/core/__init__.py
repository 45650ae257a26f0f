"""Forge shared core: bus, subjects, errors, config loading, logging."""
