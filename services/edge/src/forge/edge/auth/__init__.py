"""Who is calling and what they may do: bearer tokens, the identity cache, the guard, device
cookies, trusted proxies, allowed origins, resource metadata, SSO providers."""
