// The bettor's sign-in: each POST /auth/token answers a TokenRequest for the realtime SDK and
// the bettor's credential for their own API resources (bets, notification choice), which the
// page sends as a Bearer token. The SDK signs in again before its token expires, and the
// credential is renewed with it; a refused credential is renewed once and the call retried.
import { postJson, requestJson } from "../lib/http.js";

const RENEW_BEFORE_MS = 60_000;

export class Session {
  constructor(userId) {
    this.userId = userId;
    this.apiToken = null;
    this.apiTokenExpiresMs = 0;
  }

  /** A fresh TokenRequest for the SDK's authCallback; keeps the credential that came with it. */
  async tokenRequest() {
    const answer = await postJson("/auth/token", { user_id: this.userId });
    this.apiToken = answer.api_token;
    this.apiTokenExpiresMs = answer.api_token_expires_ms;
    return answer.token_request;
  }

  /** JSON from one of the bettor's own resources: `path` under /api/users/<me>. */
  async request(path, options = {}) {
    const url = `/api/users/${encodeURIComponent(this.userId)}${path}`;
    if (!this.apiToken || Date.now() > this.apiTokenExpiresMs - RENEW_BEFORE_MS) {
      await this.tokenRequest();
    }
    try {
      return await requestJson(url, { ...options, headers: this.authorization() });
    } catch (error) {
      if (error.status !== 401) throw error;
      await this.tokenRequest(); // expired or from before a key change: once more, freshly
      return requestJson(url, { ...options, headers: this.authorization() });
    }
  }

  authorization() {
    return { Authorization: `Bearer ${this.apiToken}` };
  }
}
