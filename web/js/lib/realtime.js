// The realtime connection: the official ably-js SDK (its ESM "modular" build) with the vcdiff
// delta decoder, signed in through the server's POST /auth/token.
import {
  BaseRealtime,
  FetchRequest,
  WebSocketTransport,
} from "/vendor/ably/build/modular/index.mjs";
import { postJson } from "./http.js";

// The decoder ships only as a browser script (global `vcdiffDecoder`); the page loads it first.
const vcdiff = globalThis.vcdiffDecoder;

/**
 * A connected-on-demand client for one bettor. `edge` is /api/config's "edge": with no
 * endpoint it is real Ably; otherwise the local edge on plain HTTP. `tokenRequest` signs in
 * afresh each time the SDK needs a token (a TokenRequest is good for one exchange only).
 */
export function connectRealtime(edge, userId, tokenRequest = () => signIn(userId)) {
  const options = {
    clientId: userId,
    authCallback: (_params, callback) => {
      tokenRequest().then(
        (request) => callback(null, request),
        (error) => callback(String(error.message ?? error), null),
      );
    },
    plugins: { WebSocketTransport, FetchRequest, vcdiff },
    echoMessages: false,
  };
  if (edge?.endpoint) {
    options.endpoint = edge.endpoint;
    if (edge.port) options.port = edge.port;
    options.tls = Boolean(edge.tls);
  }
  return new BaseRealtime(options);
}

async function signIn(userId) {
  return (await postJson("/auth/token", { user_id: userId })).token_request;
}

const CONNECTION_LABELS = {
  initialized: ["connecting", "Connecting…"],
  connecting: ["connecting", "Connecting…"],
  connected: ["live", "Live"],
  disconnected: ["reconnecting", "Reconnecting…"],
  suspended: ["reconnecting", "Offline, retrying…"],
  closing: ["offline", "Closing"],
  closed: ["offline", "Disconnected"],
  failed: ["offline", "Connection failed"],
};

/**
 * Mirror the connection state in an indicator element; `onReconnected` runs each time the
 * connection comes back after the first, so a page can refetch what it may have missed.
 */
export function watchConnection(realtime, indicator, onReconnected) {
  let connectedBefore = false;
  const show = (state, reason) => {
    const [kind, label] = CONNECTION_LABELS[state] ?? ["offline", state];
    indicator.dataset.state = kind;
    indicator.textContent = label;
    indicator.title = reason?.message ?? "";
  };
  show(realtime.connection.state);
  realtime.connection.on((change) => {
    show(change.current, change.reason);
    if (change.current !== "connected") return;
    if (connectedBefore) onReconnected();
    connectedBefore = true;
  });
  indicator.addEventListener("click", () => {
    if (["failed", "closed", "suspended", "disconnected"].includes(realtime.connection.state)) {
      realtime.connection.connect();
    }
  });
}
