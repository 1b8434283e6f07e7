// Smoke test of the local edge with the official npm `ably` SDK and the vcdiff plugin.
// Usage: node smoke_ably.mjs <port> <key> <web dir>. Prints one JSON line; exits non-zero on
// failure. The SDK is resolved from the web app's node_modules, wherever this file lives.
import { createRequire } from "node:module";
import path from "node:path";

const [port, key, webDir] = process.argv.slice(2);
const require = createRequire(path.join(webDir, "package.json"));
const Ably = require("ably");
const vcdiff = require("@ably/vcdiff-decoder");
const local = { endpoint: "127.0.0.1", port: Number(port), tls: false, logLevel: 1 };
const TIMEOUT_MS = 8000;

function withTimeout(promise, what) {
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS).unref(),
  );
  return Promise.race([promise, timer]);
}

function oddsBook(tick) {
  const runners = {};
  for (let n = 0; n < 20; n++) runners[`runner-${n}`] = { price: 100 + n, name: `Horse ${n}` };
  runners["runner-3"].price = 200 + tick;
  return { race: "race:js", tick, runners };
}

async function main() {
  // Token auth: the REST client signs TokenRequests that the edge turns into tokens.
  const rest = new Ably.Rest({ ...local, key, useTokenAuth: true, clientId: "js-punter" });
  const token = await rest.auth.requestToken({ clientId: "js-punter" });
  const subscriber = new Ably.Realtime({ ...local, token: token.token, plugins: { vcdiff } });
  const publisher = new Ably.Realtime({ ...local, key, useTokenAuth: true });
  await withTimeout(subscriber.connection.once("connected"), "subscriber connected");

  const channel = subscriber.channels.get("race:js", { params: { delta: "vcdiff" } });
  const received = [];
  const allReceived = new Promise((resolve) => {
    channel.subscribe((message) => {
      received.push(message.data);
      if (received.length === 5) resolve();
    });
  });
  await withTimeout(channel.attach(), "attach");
  const race = publisher.channels.get("race:js");
  for (let tick = 0; tick < 5; tick++) await withTimeout(race.publish("book", oddsBook(tick)), "publish");
  await withTimeout(allReceived, "messages");

  const expected = [0, 1, 2, 3, 4].map(oddsBook);
  const same = JSON.stringify(received) === JSON.stringify(expected);
  console.log(JSON.stringify({ ok: same, clientId: subscriber.auth.clientId, received: received.length }));
  subscriber.close();
  publisher.close();
  process.exit(same ? 0 : 1);
}

main().catch((error) => {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
  process.exit(1);
});
