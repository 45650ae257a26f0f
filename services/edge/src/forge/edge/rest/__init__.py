"""The REST API: the admin catalog, identity, RBAC, plugins, SSO and upstream OAuth routes, and
the one error handler they share."""
