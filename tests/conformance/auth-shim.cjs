// A loopback reverse proxy that adds `Authorization: Bearer $SHIM_TOKEN` to every request and
// forwards it to $SHIM_TARGET (Forge's edge, e.g. http://127.0.0.1:4444). Bodies stream both
// ways unbuffered, so SSE responses pass through as they are written; closing either side
// closes the other. The conformance suite's server mode sends no auth header: this lets it
// reach Forge's /mcp without any auth bypass in Forge. Run with `-r ./loopback.cjs` so the
// chosen port lands in $LOOPBACK_PORT_FILE.
"use strict";
const http = require("node:http");

const target = new URL(process.env.SHIM_TARGET);
const token = process.env.SHIM_TOKEN;
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  const upstream = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers, // Host and Origin go through untouched: Forge judges what the client sent
      agent,
    },
    (upres) => {
      res.writeHead(upres.statusCode, upres.statusMessage, upres.rawHeaders);
      res.flushHeaders();
      upres.pipe(res);
      upres.on("error", () => res.destroy());
    },
  );
  upstream.on("error", (err) => {
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`auth-shim: ${err.message}\n`);
    } else {
      res.destroy();
    }
  });
  // The client went away (e.g. it closed an SSE stream to cancel): tell Forge too.
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1");
