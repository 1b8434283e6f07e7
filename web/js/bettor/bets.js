// My bets: loaded over HTTP, then kept current by outcomes and settlements on my channel.
// Two tabs, open and settled, each with its totals; a bet shows when it was placed, its
// reference and the price it got.
import { fill, formatTime, h } from "../lib/dom.js";
import { formatMinor, returnMinor } from "../lib/money.js";
import { formatOdds } from "../lib/odds-format.js";
import { reasonText } from "../lib/reasons.js";

const STATUS_LABELS = {
  sending: "Sending…",
  unsent: "Not sent",
  pending: "Pending",
  accepted: "Open",
  rejected: "Not placed",
  won: "Won",
  lost: "Lost",
  void: "Void",
  refunded: "Refunded",
};
const OPEN_STATUSES = new Set(["sending", "unsent", "pending", "accepted"]);
const HISTORY_LIMIT = 100;

/** The short reference a bettor quotes: the bet id's first 8 characters, upper case. */
export function betReference(betId) {
  return String(betId).slice(0, 8).toUpperCase();
}

export function isOpenBet(bet) {
  return OPEN_STATUSES.has(bet.status);
}

export class MyBets {
  constructor(session, elements, describe, display) {
    this.session = session;
    this.elements = elements; // body, error, totals, tabs: {open, settled}
    this.describe = describe; // (bet) -> { runner, race } names
    this.display = display; // { currency, oddsFormat() }
    this.bets = new Map();
    this.tab = "open";
    for (const [tab, button] of Object.entries(elements.tabs)) {
      button.addEventListener("click", () => this.showTab(tab));
    }
  }

  async load() {
    try {
      const [answer, placed] = await Promise.all([this.session.request("/bets"), this.placedTimes()]);
      const local = [...this.bets.values()];
      this.bets = new Map(answer.bets.map((bet) => [bet.bet_id, { ...bet }]));
      for (const bet of local) {
        const known = this.bets.get(bet.bet_id);
        if (!known && bet.status === "sending") this.bets.set(bet.bet_id, bet);
        else if (known && !known.placed_at_ms) known.placed_at_ms = bet.placed_at_ms;
      }
      for (const bet of this.bets.values()) bet.placed_at_ms ??= placed.get(bet.bet_id);
      this.elements.error.textContent = "";
    } catch (error) {
      this.elements.error.textContent = `Bets unavailable: ${error.message}`;
    }
    this.render();
  }

  /** When each bet was decided, from the bet history (which may be off: then none). */
  async placedTimes() {
    try {
      const page = await this.session.request(`/history?limit=${HISTORY_LIMIT}`);
      return new Map(page.bets.map((bet) => [bet.bet_id, bet.decided_at_ms]));
    } catch {
      return new Map();
    }
  }

  get(betId) {
    return this.bets.get(betId);
  }

  /** Record or update a bet (newest first). */
  put(bet) {
    const known = this.bets.get(bet.bet_id);
    if (known) Object.assign(known, bet);
    else this.bets = new Map([[bet.bet_id, { ...bet }], ...this.bets]);
    this.render();
  }

  applyOutcome(outcome) {
    // A refusal of another bet under a reference already used leaves the first bet as it is.
    if (outcome.reason === "BET_ID_REUSED" && this.bets.has(outcome.bet_id)) return;
    const { bet_id, race_id, runner_id, stake_minor, status, odds, reason, detail } = outcome;
    const placed = this.bets.get(bet_id)?.placed_at_ms ?? outcome.decided_at_ms;
    this.put({ bet_id, race_id, runner_id, stake_minor, status, odds, reason, detail, placed_at_ms: placed });
  }

  applySettlement(settlement) {
    const bet = this.bets.get(settlement.bet_id);
    if (!bet) return void this.load(); // settled before we knew of it: fetch the list
    this.put({ bet_id: bet.bet_id, status: settlement.result, payout_minor: settlement.payout_minor });
  }

  showTab(tab) {
    this.tab = tab;
    this.render();
  }

  render() {
    const all = [...this.bets.values()];
    const shown = all.filter((bet) => isOpenBet(bet) === (this.tab === "open"));
    for (const [tab, button] of Object.entries(this.elements.tabs)) {
      const count = all.filter((bet) => isOpenBet(bet) === (tab === "open")).length;
      button.setAttribute("aria-selected", String(tab === this.tab));
      button.textContent = `${tab === "open" ? "Open" : "Settled"} (${count})`;
    }
    const rows = shown.map((bet) => this.row(bet));
    if (rows.length === 0) {
      const empty = this.tab === "open" ? "No open bets." : "No settled bets yet.";
      rows.push(h("tr", {}, h("td", { colspan: 4, className: "muted" }, empty)));
    }
    fill(this.elements.body, rows);
    this.renderTotals(shown);
  }

  renderTotals(bets) {
    const placed = bets.filter((bet) => bet.status !== "rejected" && bet.status !== "unsent");
    const staked = placed.reduce((sum, bet) => sum + bet.stake_minor, 0);
    if (this.tab === "open") {
      const returns = placed.reduce((sum, bet) => sum + (returnMinor(bet.stake_minor, bet.odds) ?? 0), 0);
      const text = `Staked ${this.money(staked)} · potential returns ${this.money(returns)}`;
      return fill(this.elements.totals, text);
    }
    const returned = placed.reduce((sum, bet) => sum + (bet.payout_minor ?? 0), 0);
    const profit = returned - staked;
    fill(
      this.elements.totals,
      `Staked ${this.money(staked)} · returned ${this.money(returned)} · `,
      h(
        "span",
        { className: profit < 0 ? "loss" : "profit" },
        `${profit < 0 ? "" : "+"}${this.money(profit)}`,
      ),
    );
  }

  money(minor) {
    return `${formatMinor(minor)} ${this.display.currency}`;
  }

  row(bet) {
    const { runner, race } = this.describe(bet);
    const when = bet.placed_at_ms ? formatTime(bet.placed_at_ms) : null;
    return h(
      "tr",
      { dataset: { betId: bet.bet_id, status: bet.status } },
      h(
        "td",
        {},
        h("div", { className: "bet-runner" }, runner),
        h("div", { className: "muted" }, race),
        h(
          "div",
          { className: "bet-meta muted" },
          [when, `Ref ${betReference(bet.bet_id)}`].filter(Boolean).join(" · "),
        ),
      ),
      h("td", { className: "number" }, formatMinor(bet.stake_minor)),
      h("td", { className: "number bet-price" }, formatOdds(bet.odds, this.display.oddsFormat())),
      h(
        "td",
        { className: "number" },
        h("span", { className: `badge bet-${bet.status}` }, STATUS_LABELS[bet.status] ?? bet.status),
        h("div", { className: "bet-return" }, returnText(bet)),
        bet.status === "rejected" ? h("div", { className: "muted reason" }, reasonText(bet.reason)) : null,
      ),
    );
  }
}

function returnText(bet) {
  if (bet.payout_minor !== null && bet.payout_minor !== undefined) {
    return bet.status === "lost" ? "" : formatMinor(bet.payout_minor);
  }
  if (bet.status === "accepted") {
    const potential = returnMinor(bet.stake_minor, bet.odds);
    return potential === null ? "" : `returns ${formatMinor(potential)}`;
  }
  return "";
}
