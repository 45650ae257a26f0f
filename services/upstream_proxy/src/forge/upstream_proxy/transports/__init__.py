"""Transports: a session kind per way of reaching an upstream, and what each says on the wire."""
