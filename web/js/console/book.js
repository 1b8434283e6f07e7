// The live book of one race: per runner the price, the money staked, the worst-case
// liability and a small chart of the prices seen while the console watched.
import { fill, h } from "../lib/dom.js";
import { fractional } from "../lib/money.js";
import { oddsChart } from "./chart.js";
import { money } from "./race-table.js";

const HISTORY_MAX = 120;

export class BookView {
  constructor(elements) {
    this.elements = elements; // panel, title, state, summary, rows, actionForm
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
    this.elements.state.textContent = race.in_play ? `${race.state}, in play` : race.state;
    this.elements.state.className = `badge state-${race.state}`;
    this.elements.summary.textContent =
      `Version ${race.version}. Pool ${money(race.pool_minor)}, ` +
      `worst-case liability ${money(race.race_liability_minor)}.`;
    fill(this.elements.rows, race.runners.map((runner) => this.row(runner)));
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

  row(runner) {
    const liability = runner.liability_minor ?? 0;
    return h(
      "tr",
      { dataset: { runnerId: runner.runner_id }, className: runner.active === false ? "inactive" : "" },
      h("td", {}, runner.name),
      h("td", { className: "number" }, runner.odds ? `${runner.odds} (${fractional(runner.odds)})` : "–"),
      h("td", { className: "number" }, money(runner.stake_minor)),
      h("td", { className: `number${liability > 0 ? " liability-high" : ""}` }, money(runner.liability_minor)),
      h("td", {}, oddsChart(this.history.get(runner.runner_id) ?? [])),
    );
  }
}
