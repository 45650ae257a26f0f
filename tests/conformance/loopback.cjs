// Preload (`node -r ./loopback.cjs ...`): every net.Server listens on 127.0.0.1 only, and
// the first one to listen writes its port to $LOOPBACK_PORT_FILE (so PORT=0 works).
"use strict";
const fs = require("node:fs");
const net = require("node:net");

const HOST = "127.0.0.1";
const original = net.Server.prototype.listen;
let reported = false;

net.Server.prototype.listen = function listen(...args) {
  if (args.length > 0 && typeof args[0] === "object" && args[0] !== null) {
    if (args[0].path === undefined) args[0] = { ...args[0], host: HOST };
  } else if (typeof args[0] === "number" || /^\d+$/.test(String(args[0]))) {
    const port = Number(args[0]);
    const rest = args.slice(1);
    if (typeof rest[0] === "string") rest.shift(); // drop a caller's host
    args = [port, HOST, ...rest];
  } else if (args.length === 0 || typeof args[0] === "function") {
    args = [0, HOST, ...args];
  }
  this.once("listening", () => {
    const file = process.env.LOOPBACK_PORT_FILE;
    const address = this.address();
    if (!reported && file && address && typeof address === "object") {
      reported = true;
      fs.writeFileSync(file + ".tmp", String(address.port));
      fs.renameSync(file + ".tmp", file);
    }
  });
  return original.apply(this, args);
};
