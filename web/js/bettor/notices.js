// Notices (starting soon, a race's result for my bets): one entry per race in a list that
// stays until dismissed, with names rather than ids and the race's total. Through the
// browser too, when the bettor turned notifications on (the server's choice is the truth,
// off until they turn it on) and the browser allows it.
import { h } from "../lib/dom.js";
import { formatMinor } from "../lib/money.js";

const NOTICES_SHOWN_MAX = 20;
const SETTLED = new Set(["won", "lost", "void", "refunded"]);

export class Notices {
  constructor(session, container, toggle, { describeRace, betsOfRace, currency }) {
    this.session = session;
    this.container = container;
    this.toggle = toggle;
    this.describeRace = describeRace; // (raceId) -> name
    this.betsOfRace = betsOfRace; // (raceId) -> [bet]
    this.currency = currency;
    this.enabled = false;
    this.entries = new Map(); // key -> element
    this.worker = registerWorker();
    toggle.addEventListener("change", () => this.setEnabled(toggle.checked));
  }

  /** The choice as the server holds it; the switch stays off and disabled until then. */
  async load() {
    try {
      const answer = await this.session.request("/notifications");
      this.enabled = answer.notifications === true;
      this.toggle.checked = this.enabled;
      this.toggle.disabled = false;
    } catch (error) {
      this.toggle.checked = false;
      this.toggle.title = `Notifications unavailable: ${error.message}`;
      this.toggle.disabled = false;
    }
  }

  async setEnabled(enabled) {
    this.toggle.disabled = true;
    try {
      await this.session.request("/notifications", { method: "POST", body: { enabled } });
      this.enabled = enabled;
      if (enabled) await askPermission();
    } catch (error) {
      this.toggle.checked = this.enabled;
      this.show({ kind: "error", text: `Could not change notifications: ${error.message}` });
    } finally {
      this.toggle.disabled = false;
    }
  }

  /** A notice from the server, or a message of the page's own. */
  show(notice) {
    if (notice.kind === "win" || notice.kind === "loss") return this.raceSettled(notice.race_id);
    const key = notice.race_id ? `${notice.kind}:${notice.race_id}` : `${notice.kind}:${Date.now()}`;
    this.put(key, notice.kind, notice.text);
  }

  /** One notice per race with what my bets on it came to, however many settle. */
  raceSettled(raceId) {
    const settled = this.betsOfRace(raceId).filter((bet) => SETTLED.has(bet.status));
    if (settled.length === 0) return;
    const { kind, text } = summarise(this.describeRace(raceId), settled, this.currency);
    this.put(`settled:${raceId}`, kind, text);
  }

  put(key, kind, text) {
    const known = this.entries.get(key);
    const item = h(
      "div",
      { className: `notice notice-${kind}`, role: "status", dataset: { kind, key } },
      h("span", {}, text),
      h(
        "button",
        { type: "button", className: "close", "aria-label": "Dismiss", onclick: () => this.dismiss(key) },
        "×",
      ),
    );
    if (known) known.replaceWith(item);
    else this.container.prepend(item);
    this.entries.set(key, item);
    while (this.entries.size > NOTICES_SHOWN_MAX) this.dismiss(this.entries.keys().next().value);
    if (this.enabled && kind !== "error") this.notifyBrowser(key, text);
  }

  dismiss(key) {
    this.entries.get(key)?.remove();
    this.entries.delete(key);
  }

  async notifyBrowser(key, text) {
    if (!("Notification" in globalThis) || Notification.permission !== "granted") return;
    const options = { body: text, tag: key };
    try {
      new Notification("Betting", options);
    } catch {
      // Android Chrome shows notifications only from a service worker.
      const registration = await this.worker;
      await registration?.showNotification("Betting", options).catch(() => {});
    }
  }
}

/** The words for a race's settled bets: the total won, refunded, or that they lost. */
export function summarise(raceName, bets, currency) {
  const total = (status) =>
    bets.filter((bet) => bet.status === status).reduce((sum, bet) => sum + (bet.payout_minor ?? 0), 0);
  const money = (minor) => `${formatMinor(minor)} ${currency}`;
  const count = bets.length === 1 ? "your bet" : `your ${bets.length} bets`;
  const won = total("won");
  const refunded = total("refunded") + total("void");
  if (won > 0) {
    const extra = refunded > 0 ? ` and ${money(refunded)} refunded` : "";
    return { kind: "win", text: `${raceName}: you won ${money(won)}${extra} (${count}).` };
  }
  if (refunded > 0) return { kind: "void", text: `${raceName}: ${money(refunded)} refunded (${count}).` };
  return { kind: "loss", text: `${raceName}: ${count} lost.` };
}

async function askPermission() {
  if (!("Notification" in globalThis) || Notification.permission !== "default") return;
  await Notification.requestPermission();
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return Promise.resolve(null);
  return navigator.serviceWorker.register("/sw.js").catch(() => null);
}
