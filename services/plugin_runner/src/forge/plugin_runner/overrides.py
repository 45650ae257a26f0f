"""Bindings in `disabled` mode: see forge.plugins.overrides (moved there so that a router
building inline chains knows the `Off` stand-in too)."""

from __future__ import annotations

from forge.plugins.overrides import OFF, Off, OffLoader, switch_off, trim

__all__ = ["OFF", "Off", "OffLoader", "switch_off", "trim"]
