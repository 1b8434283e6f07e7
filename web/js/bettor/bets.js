// My bets: loaded over HTTP, then kept current by outcomes and settlements on my channel.
import { fill, h } from "../lib/dom.js";
import { formatMinor, returnMinor } from "../lib/money.js";
import { reasonText } from "../lib/reasons.js";

const STATUS_LABELS = {
  sending: "Sending…",
  unsent: "Not sent",
  pending: "Pending",
  accepted: "Accepted",
  rejected: "Rejected",
  won: "Won",
  lost: "Lost",
  void: "Void",
};

export class MyBets {
  constructor(session, tableBody, errorElement, describe) {
    this.session = session;
    this.tableBody = tableBody;
    this.errorElement = errorElement;
    this.describe = describe; // (bet) -> "Runner, Race"
    this.bets = new Map();
  }

  async load() {
    try {
      const answer = await this.session.request("/bets");
      const local = [...this.bets.values()].filter((bet) => bet.status === "sending");
      this.bets = new Map(answer.bets.map((bet) => [bet.bet_id, bet]));
      for (const bet of local) if (!this.bets.has(bet.bet_id)) this.bets.set(bet.bet_id, bet);
      this.errorElement.textContent = "";
    } catch (error) {
      this.errorElement.textContent = `Bets unavailable: ${error.message}`;
    }
    this.render();
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
    const { bet_id, race_id, runner_id, stake_minor, status, odds, reason, detail } = outcome;
    this.put({ bet_id, race_id, runner_id, stake_minor, status, odds, reason, detail });
  }

  applySettlement(settlement) {
    const bet = this.bets.get(settlement.bet_id);
    if (!bet) return void this.load(); // settled before we knew of it: fetch the list
    this.put({ bet_id: bet.bet_id, status: settlement.result, payout_minor: settlement.payout_minor });
  }

  render() {
    const rows = [...this.bets.values()].map((bet) => this.row(bet));
    if (rows.length === 0) {
      rows.push(h("tr", {}, h("td", { colspan: 5, className: "muted" }, "No bets yet.")));
    }
    fill(this.tableBody, rows);
  }

  row(bet) {
    return h(
      "tr",
      { dataset: { betId: bet.bet_id, status: bet.status } },
      h("td", {}, this.describe(bet)),
      h("td", { className: "number" }, formatMinor(bet.stake_minor)),
      h("td", { className: "number" }, bet.odds ?? "–"),
      h(
        "td",
        {},
        h("span", { className: `badge bet-${bet.status}` }, STATUS_LABELS[bet.status] ?? bet.status),
        bet.status === "rejected" ? h("div", { className: "muted" }, reasonText(bet.reason)) : null,
      ),
      h("td", { className: "number" }, payoutText(bet)),
    );
  }
}

function payoutText(bet) {
  if (bet.payout_minor !== null && bet.payout_minor !== undefined) {
    return formatMinor(bet.payout_minor);
  }
  if (bet.status === "accepted") {
    const potential = returnMinor(bet.stake_minor, bet.odds);
    return potential === null ? "" : `returns ${formatMinor(potential)}`;
  }
  return "";
}
