// Decodes VCDIFF deltas made by betting.edge.local.vcdiff with the JS side's own decoders.
//
// stdin: {"cases": [{"name", "source", "target", "delta"}]}, the bytes in base64.
// stdout: one JSON line per case: {"name", "raw": <base64 or null>, "sdk": <base64 or null>,
// "error": <string or null>}; exit status 1 when any case did not give back its target.
//
// "raw" is @ably/vcdiff-decoder called directly; "sdk" is the official ably SDK decoding a
// message of encoding "vcdiff/base64" with that decoder as its vcdiff plugin, as a channel with
// `delta: 'vcdiff'` does. Both resolve from web/node_modules, where web/package-lock.json pins them.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const vcdiff = require('@ably/vcdiff-decoder');
const Ably = require('ably');

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function decodeRaw(source, delta) {
  return Buffer.from(vcdiff.decode(new Uint8Array(delta), new Uint8Array(source)));
}

async function decodeThroughSdk(source, deltaBase64) {
  // The shape of the context a RealtimeChannel hands to message decoding (ably-js 2.x); the
  // SDK's public Message.fromEncoded passes it through unchanged.
  const context = {
    channelOptions: {},
    plugins: { vcdiff },
    baseEncodedPreviousPayload: source,
  };
  const wire = {
    id: 'delta:0',
    data: deltaBase64,
    encoding: 'vcdiff/base64',
    extras: { delta: { from: 'base:0', format: 'vcdiff' } },
  };
  const message = await Ably.Realtime.Message.fromEncoded(wire, context);
  if (message.encoding) throw new Error(`encoding left undecoded: ${message.encoding}`);
  return Buffer.from(message.data);
}

async function runCase(testCase) {
  const source = Buffer.from(testCase.source, 'base64');
  const target = Buffer.from(testCase.target, 'base64');
  const delta = Buffer.from(testCase.delta, 'base64');
  const result = { name: testCase.name, raw: null, sdk: null, error: null };
  try {
    const raw = decodeRaw(source, delta);
    const sdk = await decodeThroughSdk(source, testCase.delta);
    result.raw = raw.toString('base64');
    result.sdk = sdk.toString('base64');
    const ok = raw.equals(target) && sdk.equals(target);
    return { result, ok };
  } catch (error) {
    result.error = String(error && error.stack ? error.stack : error);
    return { result, ok: false };
  }
}

const { cases } = JSON.parse(await readStdin());
let failures = 0;
for (const testCase of cases) {
  const { result, ok } = await runCase(testCase);
  if (!ok) failures += 1;
  process.stdout.write(JSON.stringify(result) + '\n');
}
process.exitCode = failures ? 1 : 0;
