// The bet slip: a runner picked from the race view, a stake, and the bet published over the
// realtime connection with the price and odds version on screen. The outcome comes back on
// my channel: accepted (the slip turns into a receipt and is disarmed, so another tap does
// not bet again) or rejected with the reason in words and, for a moved price, the new one.
import { betsShard } from "../lib/crc32.js";
import { fill, h, randomId } from "../lib/dom.js";
import { formatMinor, oddsHundredths, parseStakeMinor, returnMinor } from "../lib/money.js";
import { formatOdds } from "../lib/odds-format.js";
import { reasonText } from "../lib/reasons.js";
import { betReference } from "./bets.js";

const QUICK_STAKES_MINOR = [500, 1000, 2500, 5000];
const ACCEPT_HIGHER_KEY = "betting.acceptHigherOdds";

export class BetSlip {
  constructor(realtime, userId, betShards, myBets, elements, display) {
    this.channel = realtime.channels.get(`inbound:bets:${betsShard(userId, betShards)}`);
    this.myBets = myBets;
    this.elements = elements;
    this.display = display; // { currency, oddsFormat() }
    this.race = null;
    this.runner = null;
    this.quoted = null; // the price the bettor agreed to; differs from the runner's when it moved
    this.betId = null; // the bet whose outcome this slip is waiting for
    this.connected = realtime.connection.state === "connected";
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.placeFromForm();
    });
    elements.stake.addEventListener("input", () => this.renderReturn());
    elements.close.addEventListener("click", () => this.close());
    elements.acceptHigher.checked = localStorage.getItem(ACCEPT_HIGHER_KEY) !== "off";
    elements.acceptHigher.addEventListener("change", () => {
      localStorage.setItem(ACCEPT_HIGHER_KEY, elements.acceptHigher.checked ? "on" : "off");
    });
    fill(elements.quick, QUICK_STAKES_MINOR.map((minor) => this.quickStake(minor)));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !elements.panel.hidden) this.close();
    });
    realtime.connection.on((change) => {
      this.connected = change.current === "connected";
      if (this.race) this.renderLock();
    });
  }

  quickStake(minor) {
    const onclick = () => {
      this.elements.stake.value = formatMinor(minor).replace(",", "");
      this.renderReturn();
    };
    return h("button", { type: "button", className: "secondary", onclick }, formatMinor(minor));
  }

  open(race, runner) {
    this.race = race;
    this.runner = runner;
    this.quoted = runner.odds;
    this.betId = null;
    this.elements.panel.hidden = false;
    this.elements.form.hidden = false;
    this.elements.receipt.hidden = true;
    this.elements.runner.textContent = `${runner.name}, ${race.name}`;
    this.elements.stake.value = "";
    fill(this.elements.outcome);
    this.renderLimits();
    this.renderPrice();
    this.elements.stake.focus();
  }

  close() {
    this.race = null;
    this.runner = null;
    this.betId = null;
    this.elements.panel.hidden = true;
  }

  get pending() {
    const status = this.betId && this.myBets.get(this.betId)?.status;
    return status === "sending" || status === "pending";
  }

  /** The race view saw new odds: follow them, and say so when the price moved against us. */
  onOdds(race) {
    if (!this.race || race.race_id !== this.race.race_id) return;
    this.race = race;
    this.runner = race.runners.find((r) => r.runner_id === this.runner.runner_id) ?? this.runner;
    const higher = oddsHundredths(this.runner.odds) > oddsHundredths(this.quoted);
    if (higher && this.elements.acceptHigher.checked) this.quoted = this.runner.odds;
    this.renderPrice();
  }

  /** The odds format changed: show every price in it. */
  redraw() {
    if (this.race) this.renderPrice();
  }

  renderPrice() {
    if (!this.elements.receipt.hidden) return; // the receipt shows the price the bet got
    const { odds } = this.runner;
    const format = this.display.oddsFormat();
    const moved = odds !== null && this.quoted !== null && odds !== this.quoted;
    this.elements.price.textContent = formatOdds(odds, format);
    this.elements.price.classList.toggle("changed", moved);
    this.elements.priceChange.hidden = !moved;
    if (moved) {
      this.elements.priceChange.textContent =
        `The price changed from ${formatOdds(this.quoted, format)} to ${formatOdds(odds, format)}.`;
    }
    this.elements.place.textContent = moved ? "Accept the new price and bet" : "Place bet";
    this.renderLock();
    this.renderReturn();
  }

  renderLimits() {
    const { stake_min_minor: low, stake_max_minor: high } = this.race;
    const currency = this.display.currency;
    this.elements.currency.textContent = currency;
    this.elements.limits.textContent =
      low && high ? `Min ${formatMinor(low)}, max ${formatMinor(high)} ${currency}` : "";
  }

  /** No bet while the connection is down, the race is not open or a bet is on its way. */
  renderLock() {
    const bettable = this.race.state === "open" && Boolean(this.runner.odds);
    this.elements.fieldset.disabled = !this.connected || this.pending;
    this.elements.place.disabled = !this.connected || this.pending || !bettable;
    const why = !this.connected
      ? "Reconnecting: betting is paused until the connection is back."
      : this.race.state === "suspended" ? "Suspended: betting will resume shortly." : "";
    this.elements.lock.textContent = why;
    this.elements.lock.hidden = why === "";
    this.elements.panel.dataset.locked = String(!this.connected);
  }

  renderReturn() {
    const stakeMinor = parseStakeMinor(this.elements.stake.value);
    const potential = stakeMinor === null ? null : returnMinor(stakeMinor, this.runner?.odds);
    this.elements.returns.textContent =
      potential === null ? "" : `Returns ${this.money(potential)} if it wins`;
  }

  money(minor) {
    return `${formatMinor(minor)} ${this.display.currency}`;
  }

  placeFromForm() {
    if (!this.race || !this.connected || this.pending) return; // a double tap bets once
    const stakeMinor = parseStakeMinor(this.elements.stake.value);
    if (stakeMinor === null || stakeMinor === 0) {
      return this.say("error", "Enter a stake like 10 or 2.50.");
    }
    const { stake_min_minor: low, stake_max_minor: high } = this.race;
    if (low && stakeMinor < low) return this.say("error", `The minimum stake is ${this.money(low)}.`);
    if (high && stakeMinor > high) return this.say("error", `The maximum stake is ${this.money(high)}.`);
    this.quoted = this.runner.odds; // placing at the price shown accepts it
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
    const placedAt = bet.client_sent_at_ms;
    this.myBets.put({ ...bet, status: "sending", reason: null, payout_minor: null, placed_at_ms: placedAt });
    const format = this.display.oddsFormat();
    this.say("pending", `Placing ${this.money(bet.stake_minor)} at ${formatOdds(bet.odds, format)}…`);
    this.renderLock();
    try {
      await this.channel.publish("bet", bet);
    } catch (error) {
      if (this.myBets.get(bet.bet_id)?.status !== "sending") return; // an outcome came first
      this.myBets.put({ bet_id: bet.bet_id, status: "unsent" });
      if (this.betId === bet.bet_id) this.renderLock();
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
    if (!this.race || outcome.bet_id !== this.betId) return;
    if (outcome.status === "accepted") return this.receipt(outcome);
    this.renderLock();
    const words = reasonText(outcome.reason);
    if (outcome.reason === "ODDS_CHANGED" && outcome.odds) return this.offer(outcome, words);
    const detail = outcome.reason === "INVALID" && outcome.detail ? ` (${outcome.detail})` : "";
    this.say("rejected", `Rejected: ${words}${detail}`);
  }

  /** The bet is on: a receipt in place of the form, and a slip that bets no more. */
  receipt(outcome) {
    const format = this.display.oddsFormat();
    const potential = returnMinor(outcome.stake_minor, outcome.odds);
    const line = (label, value, name) =>
      h(
        "div",
        { className: "receipt-line" },
        h("dt", {}, label),
        h("dd", { dataset: { field: name } }, value),
      );
    fill(
      this.elements.receipt,
      h("p", { className: "receipt-title" }, "✓ Bet placed"),
      h(
        "dl",
        {},
        line("Selection", this.elements.runner.textContent, "selection"),
        line("Bet ref", betReference(outcome.bet_id), "reference"),
        line("Price", formatOdds(outcome.odds, format), "price"),
        line("Stake", this.money(outcome.stake_minor), "stake"),
        potential === null ? null : line("Returns", this.money(potential), "returns"),
      ),
      h(
        "div",
        { className: "receipt-actions" },
        h("button", { type: "button", id: "slip-done", onclick: () => this.close() }, "Done"),
        h(
          "button",
          { type: "button", className: "secondary", onclick: () => this.open(this.race, this.runner) },
          "Bet again",
        ),
      ),
    );
    this.betId = null;
    this.elements.stake.value = "";
    this.elements.form.hidden = true;
    this.elements.priceChange.hidden = true;
    this.elements.price.textContent = "";
    this.elements.receipt.hidden = false;
    fill(this.elements.outcome);
    this.elements.receipt.querySelector("#slip-done").focus();
  }

  offer(outcome, words) {
    const version = Math.max(outcome.odds_version ?? 0, this.race?.version ?? 0);
    const format = this.display.oddsFormat();
    const accept = h(
      "button",
      {
        type: "button",
        className: "offer",
        onclick: () => {
          this.quoted = outcome.odds;
          this.place(outcome.stake_minor, outcome.odds, version);
        },
      },
      `Bet ${this.money(outcome.stake_minor)} at ${formatOdds(outcome.odds, format)}`,
    );
    const now = `The price is now ${formatOdds(outcome.odds, format)}. `;
    this.say("rejected", `Not placed: ${words} `, now, accept);
  }

  say(kind, ...content) {
    this.elements.outcome.dataset.kind = kind;
    fill(this.elements.outcome, ...content);
  }
}
