// The bet slip: a runner picked from the race view, a stake, and the bet published over the
// realtime connection with the price and odds version on screen. The outcome comes back on
// my channel: accepted at the granted odds, or rejected with the reason in words.
import { betsShard } from "../lib/crc32.js";
import { fill, h, randomId } from "../lib/dom.js";
import { formatMinor, fractional, parseStakeMinor, returnMinor } from "../lib/money.js";
import { reasonText } from "../lib/reasons.js";

export class BetSlip {
  constructor(realtime, userId, betShards, myBets, elements) {
    this.channel = realtime.channels.get(`inbound:bets:${betsShard(userId, betShards)}`);
    this.myBets = myBets;
    this.elements = elements; // panel, runner, price, form, stake, returns, place, outcome, close
    this.race = null;
    this.runner = null;
    this.betId = null; // the bet whose outcome this slip is waiting for
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.placeFromForm();
    });
    elements.stake.addEventListener("input", () => this.renderReturn());
    elements.close.addEventListener("click", () => this.close());
  }

  open(race, runner) {
    this.race = race;
    this.runner = runner;
    this.betId = null;
    this.elements.panel.hidden = false;
    this.elements.runner.textContent = `${runner.name}, ${race.name}`;
    fill(this.elements.outcome);
    this.renderPrice(false);
    this.elements.stake.focus();
  }

  close() {
    this.race = null;
    this.runner = null;
    this.elements.panel.hidden = true;
  }

  /** The race view saw new odds: keep the slip's price the one on screen. */
  onOdds(race) {
    if (!this.race || race.race_id !== this.race.race_id) return;
    const runner = race.runners.find((r) => r.runner_id === this.runner.runner_id);
    const changed = runner.odds !== this.runner.odds;
    this.race = race;
    this.runner = runner;
    this.renderPrice(changed);
  }

  renderPrice(changed) {
    const { odds } = this.runner;
    this.elements.price.textContent = odds ? `${odds} (${fractional(odds)})` : "no price";
    this.elements.price.classList.toggle("changed", changed);
    this.elements.place.disabled = this.race.state !== "open" || !odds;
    this.renderReturn();
  }

  renderReturn() {
    const stakeMinor = parseStakeMinor(this.elements.stake.value);
    const potential = stakeMinor === null ? null : returnMinor(stakeMinor, this.runner?.odds);
    this.elements.returns.textContent =
      potential === null ? "" : `Returns ${formatMinor(potential)} if it wins`;
  }

  placeFromForm() {
    const stakeMinor = parseStakeMinor(this.elements.stake.value);
    if (stakeMinor === null || stakeMinor === 0) {
      return this.say("error", "Enter a stake like 10 or 2.50.");
    }
    this.place(stakeMinor, this.runner.odds, this.race.version);
  }

  /** A new bet at this price; retries of it reuse its bet id. */
  place(stakeMinor, odds, oddsVersion) {
    const bet = {
      bet_id: randomId(),
      race_id: this.race.race_id,
      runner_id: this.runner.runner_id,
      stake_minor: stakeMinor,
      odds,
      odds_version: oddsVersion,
      client_sent_at_ms: Date.now(),
    };
    this.send(bet);
  }

  async send(bet) {
    this.betId = bet.bet_id;
    this.myBets.put({ ...bet, status: "sending", reason: null, payout_minor: null });
    this.say("pending", `Placing ${formatMinor(bet.stake_minor)} at ${bet.odds}…`);
    try {
      await this.channel.publish("bet", bet);
    } catch (error) {
      if (this.myBets.get(bet.bet_id)?.status !== "sending") return; // an outcome came first
      this.myBets.put({ bet_id: bet.bet_id, status: "unsent" });
      const retry = h("button", { type: "button", onclick: () => this.send(bet) }, "Retry");
      return this.say("error", `Not sent: ${error.message}. `, retry);
    }
    if (this.myBets.get(bet.bet_id)?.status === "sending") {
      this.myBets.put({ bet_id: bet.bet_id, status: "pending" });
      if (this.betId === bet.bet_id) this.say("pending", "Bet sent, waiting for the outcome…");
    }
  }

  /** An outcome from my channel (for any bet; the slip shows the one it placed). */
  onOutcome(outcome) {
    if (outcome.bet_id !== this.betId) return;
    if (outcome.status === "accepted") {
      const potential = returnMinor(outcome.stake_minor, outcome.odds);
      return this.say(
        "accepted",
        `Accepted at ${outcome.odds} (${fractional(outcome.odds)}). Returns ${formatMinor(potential)} if it wins.`,
      );
    }
    const words = reasonText(outcome.reason);
    if (outcome.reason === "ODDS_CHANGED" && outcome.odds) return this.offer(outcome, words);
    const detail = outcome.reason === "INVALID" && outcome.detail ? ` (${outcome.detail})` : "";
    this.say("rejected", `Rejected: ${words}${detail}`);
  }

  offer(outcome, words) {
    const version = Math.max(outcome.odds_version ?? 0, this.race?.version ?? 0);
    const accept = h(
      "button",
      {
        type: "button",
        className: "offer",
        onclick: () => this.place(outcome.stake_minor, outcome.odds, version),
      },
      `Bet ${formatMinor(outcome.stake_minor)} at ${outcome.odds}`,
    );
    this.say("rejected", `Rejected: ${words} The price is now ${outcome.odds} (${fractional(outcome.odds)}). `, accept);
  }

  say(kind, ...content) {
    this.elements.outcome.dataset.kind = kind;
    fill(this.elements.outcome, ...content);
  }
}
