// Notices (starting soon, win, loss): shown in the page, and through the browser's
// Notification API when the bettor turned notifications on and the browser allows it.
import { h } from "../lib/dom.js";

const NOTICES_SHOWN_MAX = 5;
const NOTICE_LIFETIME_MS = 30_000;

export class Notices {
  constructor(session, container, toggle) {
    this.session = session;
    this.container = container;
    this.toggle = toggle;
    this.storageKey = `betting.notifications.${session.userId}`;
    this.enabled = localStorage.getItem(this.storageKey) !== "off";
    toggle.checked = this.enabled;
    toggle.addEventListener("change", () => this.setEnabled(toggle.checked));
  }

  async setEnabled(enabled) {
    this.toggle.disabled = true;
    try {
      await this.session.request("/notifications", { method: "POST", body: { enabled } });
      this.enabled = enabled;
      localStorage.setItem(this.storageKey, enabled ? "on" : "off");
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
    const item = h(
      "div",
      { className: `notice notice-${notice.kind}`, role: "status", dataset: { kind: notice.kind } },
      h("span", {}, notice.text),
      h("button", { type: "button", className: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"),
    );
    this.container.prepend(item);
    while (this.container.children.length > NOTICES_SHOWN_MAX) this.container.lastChild.remove();
    setTimeout(() => item.remove(), NOTICE_LIFETIME_MS);
    if (this.enabled && notice.kind !== "error") notifyBrowser(notice);
  }
}

async function askPermission() {
  if (!("Notification" in globalThis) || Notification.permission !== "default") return;
  await Notification.requestPermission();
}

function notifyBrowser(notice) {
  if (!("Notification" in globalThis) || Notification.permission !== "granted") return;
  try {
    new Notification("Betting", { body: notice.text, tag: `${notice.kind}:${notice.race_id}` });
  } catch {
    // Some browsers (Android Chrome) allow notifications only from a service worker.
  }
}
