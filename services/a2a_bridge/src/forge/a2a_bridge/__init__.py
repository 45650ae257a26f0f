"""a2a_bridge."""
