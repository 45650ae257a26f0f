// The v2 TypeScript client (@modelcontextprotocol/client) through one MCP endpoint, in one mode
// over one transport: lists, then calls, reads and gets what a plan names, and prints the answers.
//
//   node v2.mjs <url> <mode> <transport> <plan-json>     (the bearer token in $FORGE_TOKEN)
//
// mode: default (no versionNegotiation option), legacy, 2026-07-28 (pinned) or auto;
// transport: streamable-http or sse (the v2 client has no WebSocket transport).
import {
  Client,
  SSEClientTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { operate, run } from "./run.mjs";

const MODES = {
  default: undefined,
  legacy: { mode: "legacy" },
  "2026-07-28": { mode: { pin: "2026-07-28" } },
  auto: { mode: "auto" },
};
const TRANSPORTS = {
  "streamable-http": StreamableHTTPClientTransport,
  sse: SSEClientTransport,
};

await run(async ({ url, mode, transport, token, plan }) => {
  if (!(mode in MODES)) throw new Error(`unknown mode ${mode}`);
  const Transport = TRANSPORTS[transport];
  if (Transport === undefined) throw new Error(`unknown transport ${transport}`);
  const negotiation = MODES[mode];
  const client = new Client(
    { name: "forge-v2-client", version: "1" },
    negotiation === undefined ? {} : { versionNegotiation: negotiation },
  );
  await client.connect(new Transport(new URL(url), { authProvider: { token: async () => token } }));
  try {
    const protocolVersion = client.getNegotiatedProtocolVersion();
    return { protocolVersion, ...(await operate(client, plan)) };
  } finally {
    await client.close();
  }
});
