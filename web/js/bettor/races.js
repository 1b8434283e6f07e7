// The list of races: status and start time, refreshed over HTTP; a live race's state also
// arrives with its odds.
import { fill, formatRelative, formatTime, h } from "../lib/dom.js";
import { getJson } from "../lib/http.js";

const STATE_LABELS = {
  scheduled: "Scheduled",
  open: "Open",
  suspended: "Suspended",
  closed: "Off",
  resulted: "Result in",
  settled: "Settled",
  void: "Void",
};

/**
 * What a bettor reads for a race's status, as [label, kind]: "In play" while it runs, and a
 * race past its start that has not started is "Delayed", never still "Scheduled" or "Open".
 */
export function raceStatus(race, nowMs = Date.now()) {
  const { state, in_play: inPlay, scheduled_start_ms: startMs } = race;
  const late = typeof startMs === "number" && startMs <= nowMs;
  if (inPlay && (state === "open" || state === "suspended")) {
    return state === "open" ? ["In play", "in-play"] : ["In play, suspended", "suspended"];
  }
  if (late && (state === "scheduled" || state === "open")) return ["Delayed", "delayed"];
  return [STATE_LABELS[state] ?? state, state];
}

/** "Starts in 4:05", "Starts in 2 h 10 min"; "" once it is due. */
export function countdown(startMs, nowMs = Date.now()) {
  const seconds = Math.floor((startMs - nowMs) / 1000);
  if (!(seconds > 0)) return "";
  if (seconds >= 3600) {
    return `Starts in ${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  }
  return `Starts in ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

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
        stateBadge(race),
      ),
    );
  }
}

export function stateBadge(race) {
  const [label, kind] = raceStatus(race);
  return h("span", { className: `badge state-${kind}`, dataset: { status: kind } }, label);
}
