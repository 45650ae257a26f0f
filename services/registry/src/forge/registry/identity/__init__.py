"""The identity registry: users, teams, roles, API tokens, revocations and the audit log."""
