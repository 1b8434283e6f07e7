// ably-js renews a short-lived token when the local edge asks (AUTH), on the same connection.
// Usage: node renew_ably.mjs <port> <key> <web dir> <ttl ms>. Prints one JSON line.
import { createRequire } from "node:module";
import path from "node:path";

const [port, key, webDir, ttl] = process.argv.slice(2);
const require = createRequire(path.join(webDir, "package.json"));
const Ably = require("ably");
const local = { endpoint: "127.0.0.1", port: Number(port), tls: false, logLevel: 1 };
const RENEWALS = 2;

async function main() {
  const rest = new Ably.Rest({ ...local, key, useTokenAuth: true });
  let calls = 0;
  const states = [];
  let renewed;
  const done = new Promise((resolve) => (renewed = resolve));
  const realtime = new Ably.Realtime({
    ...local,
    clientId: "js-renewer",
    authCallback: (_params, callback) => {
      calls += 1;
      // As the page's server does: a fresh TokenRequest each time, exchanged by the SDK.
      rest.auth
        .createTokenRequest({ clientId: "js-renewer", ttl: Number(ttl) })
        .then((request) => callback(null, request), (error) => callback(error, null));
      if (calls > RENEWALS) renewed();
    },
  });
  realtime.connection.on((change) => states.push(change.current));
  await realtime.connection.once("connected");
  const first = realtime.connection.id;
  const timer = setTimeout(() => renewed(), 20_000);
  await done;
  clearTimeout(timer);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the last AUTH is answered
  const same = realtime.connection.id === first && realtime.connection.state === "connected";
  console.log(JSON.stringify({ calls, same, states: [...new Set(states)] }));
  realtime.close();
}

main().catch((error) => {
  console.log(JSON.stringify({ error: String(error) }));
  process.exit(1);
});
