"""Forge wire types: the envelope, JSON-RPC framing and MCP messages of each protocol era."""
