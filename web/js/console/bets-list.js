// A race's bets for the operator, from the bet history: who, on which runner, the stake, the
// price, the status and what it paid, with filters by status, runner and user.
import { fill, formatTime, h } from "../lib/dom.js";
import { money } from "./race-table.js";

const SHOWN_MAX = 500;

export class RaceBets {
  constructor(elements, api) {
    this.elements = elements; // rows, status, runner, user, count
    this.api = api;
    this.raceId = null;
    this.bets = [];
    for (const filter of [elements.status, elements.runner, elements.user]) {
      filter.addEventListener("input", () => this.render());
    }
  }

  async load(race) {
    if (race.race_id !== this.raceId) {
      this.raceId = race.race_id;
      this.bets = [];
      this.elements.runner.value = "";
      fill(this.elements.runner, h("option", { value: "" }, "All runners"),
        race.runners.map((runner) => h("option", { value: runner.runner_id }, runner.name)));
    }
    this.names = new Map(race.runners.map((runner) => [runner.runner_id, runner.name]));
    try {
      const page = await this.api.raceBets(race.race_id, SHOWN_MAX);
      if (race.race_id !== this.raceId) return;
      this.bets = page.bets;
      this.more = page.next_cursor !== null;
      this.problem = "";
    } catch (error) {
      this.problem = `Bets unavailable: ${error.message}`;
    }
    this.render();
  }

  matches(bet) {
    const status = this.elements.status.value;
    const runner = this.elements.runner.value;
    const user = this.elements.user.value.trim().toLowerCase();
    const shownStatus = bet.settlement?.result ?? bet.status;
    return (!status || shownStatus === status) && (!runner || bet.runner_id === runner)
      && (!user || bet.user_id.toLowerCase().includes(user));
  }

  render() {
    const shown = this.bets.filter((bet) => this.matches(bet));
    const rows = shown.map((bet) => this.row(bet));
    if (rows.length === 0) {
      const empty = this.problem || (this.bets.length ? "No bets match." : "No bets yet.");
      rows.push(h("tr", {}, h("td", { colspan: 7, className: "muted" }, empty)));
    }
    fill(this.elements.rows, rows);
    const more = this.more ? ` (the first ${SHOWN_MAX})` : "";
    this.elements.count.textContent = `${shown.length} of ${this.bets.length} bets${more}`;
  }

  row(bet) {
    const result = bet.settlement?.result ?? bet.status;
    return h(
      "tr",
      { dataset: { betId: bet.bet_id, status: result } },
      h("td", {}, bet.decided_at_ms ? formatTime(bet.decided_at_ms) : "–"),
      h("td", {}, bet.user_id),
      h("td", {}, this.names.get(bet.runner_id) ?? bet.runner_id),
      h("td", { className: "number" }, money(bet.stake_minor)),
      h("td", { className: "number" }, bet.odds ?? "–"),
      h("td", {}, h("span", { className: `badge bet-${result}` }, result), bet.reason ? ` ${bet.reason}` : null),
      h("td", { className: "number" }, bet.settlement ? money(bet.settlement.payout_minor) : "–"),
    );
  }
}
