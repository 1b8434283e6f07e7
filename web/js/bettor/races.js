// The list of races: status and start time, refreshed over HTTP; a live race's state also
// arrives with its odds.
import { fill, formatRelative, formatTime, h } from "../lib/dom.js";
import { getJson } from "../lib/http.js";

export const STATE_LABELS = {
  scheduled: "Scheduled",
  open: "Open",
  suspended: "Suspended",
  closed: "Closed",
  resulted: "Resulted",
  settled: "Settled",
  void: "Void",
};

export class RaceList {
  constructor(listElement, errorElement) {
    this.listElement = listElement;
    this.errorElement = errorElement;
    this.races = new Map();
  }

  async load() {
    try {
      const answer = await getJson("/api/races");
      this.races = new Map(answer.races.map((race) => [race.race_id, race]));
      this.errorElement.textContent = "";
    } catch (error) {
      this.errorElement.textContent = `Races unavailable: ${error.message}`;
    }
    this.render();
  }

  get(raceId) {
    return this.races.get(raceId);
  }

  /** A race's state as an odds message reported it. */
  updateState(raceId, state) {
    const race = this.races.get(raceId);
    if (!race || race.state === state) return;
    race.state = state;
    this.render();
  }

  render() {
    const items = [...this.races.values()]
      .sort((a, b) => a.scheduled_start_ms - b.scheduled_start_ms)
      .map((race) => this.item(race));
    if (items.length === 0) items.push(h("li", { className: "muted" }, "No races yet."));
    fill(this.listElement, items);
  }

  item(race) {
    return h(
      "li",
      {},
      h(
        "a",
        { href: `#race=${encodeURIComponent(race.race_id)}`, dataset: { raceId: race.race_id } },
        h("span", { className: "race-title" }, race.name),
        h(
          "span",
          { className: "race-when muted" },
          `${formatTime(race.scheduled_start_ms)} (${formatRelative(race.scheduled_start_ms)})`,
        ),
        stateBadge(race.state, race.in_play),
      ),
    );
  }
}

export function stateBadge(state, inPlay) {
  const label = inPlay && state === "open" ? "In play" : (STATE_LABELS[state] ?? state);
  return h("span", { className: `badge state-${state}${inPlay ? " in-play" : ""}` }, label);
}
