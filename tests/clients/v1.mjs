// The v1 TypeScript client (@modelcontextprotocol/sdk) through one MCP endpoint over one
// transport: lists, then calls, reads and gets what a plan names, and prints the answers.
//
//   node v1.mjs <url> legacy <transport> <plan-json>     (the bearer token in $FORGE_TOKEN)
//
// v1 has one mode, the 2025-11-25 `initialize` handshake (it knows no 2026-07-28 era);
// transport: streamable-http, sse or ws.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";
import { operate, run } from "./run.mjs";

// The transport opens a WHATWG WebSocket, which takes no headers; Node's (undici's) takes them
// in its init object, so the upgrade carries the bearer token the way Forge expects it.
function withHeaders(headers) {
  const Base = globalThis.WebSocket;
  globalThis.WebSocket = class extends Base {
    constructor(url, protocols) {
      super(url, { protocols, headers });
    }
  };
}

function transportOf(kind, url, token) {
  const headers = { Authorization: `Bearer ${token}` };
  if (kind === "streamable-http") {
    return new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  }
  if (kind === "sse") return new SSEClientTransport(new URL(url), { requestInit: { headers } });
  if (kind === "ws") {
    withHeaders(headers);
    return new WebSocketClientTransport(new URL(url));
  }
  throw new Error(`unknown transport ${kind}`);
}

await run(async ({ url, mode, transport, token, plan }) => {
  if (mode !== "legacy") throw new Error(`v1 has only the legacy mode, not ${mode}`);
  const client = new Client({ name: "forge-v1-client", version: "1" });
  const link = transportOf(transport, url, token);
  // v1 tells its transport the version the server chose (when the transport asks to know).
  let protocolVersion;
  const told = link.setProtocolVersion?.bind(link);
  link.setProtocolVersion = (version) => {
    protocolVersion = version;
    told?.(version);
  };
  await client.connect(link);
  try {
    return { protocolVersion, ...(await operate(client, plan)) };
  } finally {
    await client.close();
  }
});
