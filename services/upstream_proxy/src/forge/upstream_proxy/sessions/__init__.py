"""Pooled sessions: one per gateway (and user), of the kind its transport needs."""
