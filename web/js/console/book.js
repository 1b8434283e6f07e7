// The live book of one race: per runner the price, the money staked, what the house makes or
// loses if that runner wins (signed, coloured, with a bar against the worst), and a chart of
// the prices seen while the console watched. A decided race shows its placings and the
// house's profit or loss.
import { fill, h } from "../lib/dom.js";
import { bookmakerFraction } from "../lib/odds-format.js";
import { oddsChart } from "./chart.js";
import { money, raceBadges, signed } from "./race-table.js";

const HISTORY_MAX = 120;
const PLACES = ["1st", "2nd", "3rd", "4th"];

export class BookView {
  constructor(elements) {
    this.elements = elements; // panel, title, state, summary, result, rows, actionForm
    this.raceId = null;
    this.lastVersion = null;
    this.history = new Map(); // runner_id -> [price, ...], oldest first, bounded
  }

  show(raceId) {
    if (raceId !== this.raceId) {
      this.history.clear();
      this.lastVersion = null;
      fill(this.elements.actionForm);
    }
    this.raceId = raceId;
    this.elements.panel.hidden = false;
  }

  hide() {
    this.raceId = null;
    this.elements.panel.hidden = true;
  }

  render(race) {
    if (race.race_id !== this.raceId) return;
    if (race.version !== this.lastVersion) this.remember(race);
    this.elements.title.textContent = race.name;
    fill(this.elements.state, raceBadges(race));
    const decided = race.house !== undefined;
    this.elements.summary.textContent =
      `Version ${race.version}. Pool ${money(race.pool_minor)}` +
      (decided ? "." : `; worst case for the house ${signed(-race.race_liability_minor)}.`);
    this.renderResult(race);
    const worst = Math.max(1, ...race.runners.map((runner) => Math.abs(runner.liability_minor ?? 0)));
    fill(this.elements.rows, race.runners.map((runner) => this.row(runner, worst)));
  }

  renderResult(race) {
    const placings = race.placings ?? [];
    const house = race.house;
    this.elements.result.hidden = placings.length === 0 && !house;
    const names = new Map(race.runners.map((runner) => [runner.runner_id, runner.name]));
    fill(
      this.elements.result,
      placings.length
        ? h("span", { id: "book-placings" }, "Result: ",
          placings.map((id, index) => `${PLACES[index] ?? `${index + 1}th`} ${names.get(id) ?? id}`)
            .join(", "))
        : null,
      house
        ? h(
          "span",
          { id: "book-house" },
          `House: staked ${money(house.staked_minor)}, paid ${money(house.paid_minor)}, `,
          h(
            "b",
            { className: house.house_pnl_minor < 0 ? "loss" : "profit" },
            `P&L ${signed(house.house_pnl_minor)}`,
          ),
          house.unsettled_bets ? ` (${house.unsettled_bets} bets still to settle)` : "",
        )
        : null,
    );
  }

  remember(race) {
    this.lastVersion = race.version;
    for (const runner of race.runners) {
      if (runner.odds === null) continue;
      const prices = this.history.get(runner.runner_id) ?? [];
      prices.push(runner.odds);
      if (prices.length > HISTORY_MAX) prices.shift();
      this.history.set(runner.runner_id, prices);
    }
  }

  row(runner, worst) {
    // The read model's liability is what the house pays out beyond the pool if this runner
    // wins: the house's result is its negative.
    const house = -(runner.liability_minor ?? 0);
    const share = Math.round((Math.abs(house) / worst) * 100);
    return h(
      "tr",
      { dataset: { runnerId: runner.runner_id }, className: runner.active === false ? "inactive" : "" },
      h("td", {}, runner.name),
      h(
        "td",
        { className: "number" },
        runner.odds ? `${runner.odds} (${bookmakerFraction(runner.odds)})` : "–",
      ),
      h("td", { className: "number" }, money(runner.stake_minor)),
      h(
        "td",
        {
          className: `number house ${house < 0 ? "loss" : "profit"}`,
          title: house < 0 ? "the house loses this if it wins" : "the house makes this if it wins",
        },
        h("span", { className: "house-bar", style: `width: ${share}%` }),
        h("span", { className: "house-figure" }, signed(house)),
      ),
      h("td", {}, oddsChart(this.history.get(runner.runner_id) ?? [])),
    );
  }
}
