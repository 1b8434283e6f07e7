// Admin requests: the pasted token lives in sessionStorage (gone with the tab) and goes out
// as a Bearer token. A 401 or 403 means the token is wrong: the page asks for it again.
import { HttpError, requestJson } from "../lib/http.js";

const TOKEN_KEY = "betting.adminToken";

export const adminToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class AdminApi {
  constructor(onRefused) {
    this.onRefused = onRefused; // (message) -> void
  }

  async request(path, options = {}) {
    const token = adminToken.get();
    if (!token) throw new HttpError(401, "no admin token");
    try {
      return await requestJson(path, {
        ...options,
        headers: { Authorization: `Bearer ${token}` },
      });
    } catch (error) {
      if (error.status === 401 || error.status === 403) this.onRefused(error.message);
      throw error;
    }
  }

  races() {
    return this.request("/admin/races");
  }

  race(raceId) {
    return this.request(`/admin/races/${encodeURIComponent(raceId)}`);
  }

  raceBets(raceId, limit) {
    return this.request(`/admin/races/${encodeURIComponent(raceId)}/bets?limit=${limit}`);
  }

  stats() {
    return this.request("/admin/stats");
  }

  createRace(body) {
    return this.request("/admin/races", { method: "POST", body });
  }

  /** open, suspend, resume, start, close; result {placings}; void {reason}. */
  act(raceId, action, body = {}) {
    const path = `/admin/races/${encodeURIComponent(raceId)}/${action}`;
    return this.request(path, { method: "POST", body });
  }
}
