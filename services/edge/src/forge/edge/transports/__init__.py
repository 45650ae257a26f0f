"""The edge's MCP transports: Streamable HTTP, HTTP+SSE, WebSocket; legacy sessions, long-lived
streams and the one request path they share (exchange)."""
