"""Root pytest configuration: Forge's fixtures (real NATS, real PostgreSQL, buses) everywhere."""

pytest_plugins = [
    "forge.testing.fixtures",
    "forge.testing.tiers",
    "tests.e2e.security_tally",
]
