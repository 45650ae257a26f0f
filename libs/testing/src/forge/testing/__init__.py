"""testing: the harness of Forge's tests (fixtures, in-memory bus, bounded polling)."""

from forge.testing.polling import eventually, eventually_sync

__all__ = ["eventually", "eventually_sync"]
