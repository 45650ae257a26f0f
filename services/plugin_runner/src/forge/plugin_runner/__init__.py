"""Forge plugin-runner: the plugin hook chains, served over NATS."""
