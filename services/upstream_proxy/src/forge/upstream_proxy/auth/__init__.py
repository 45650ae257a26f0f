"""Upstream credentials: sealed settings, OAuth grants and tokens, per-user authorization."""
