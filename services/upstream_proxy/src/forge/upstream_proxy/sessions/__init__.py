"""Pooled sessions: one per gateway (and user), and the calls in flight on them."""
