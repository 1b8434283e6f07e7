// One race: a tile per runner whose price changes live from the race's odds channel (with
// vcdiff deltas). Tapping an open runner's tile picks it for the bet slip. Above the tiles,
// the race's status as a bettor reads it: a countdown, "In play", suspended, the placings.
import { fill, flash, h } from "../lib/dom.js";
import { priceMove } from "../lib/money.js";
import { formatOdds, otherFormat } from "../lib/odds-format.js";
import { countdown, raceStatus } from "./races.js";

const PLACES = ["1st", "2nd", "3rd", "4th"];
const TICK_MS = 1000;
const LISTED_FIELDS = [
  "name", "in_play", "scheduled_start_ms", "placings", "stake_min_minor", "stake_max_minor",
];
const STAGE = { scheduled: 0, open: 1, suspended: 1, closed: 2, resulted: 3, settled: 4, void: 4 };

function place(index) {
  return PLACES[index] ?? `${index + 1}th`;
}

export class RaceView {
  constructor(realtime, elements, { onPick, onOdds, oddsFormat }) {
    this.realtime = realtime;
    this.elements = elements; // panel, name, state, info, placings, tiles, suspended
    this.onPick = onPick;
    this.onOdds = onOdds;
    this.oddsFormat = oddsFormat; // () -> "decimal" | "fractional"
    this.race = null;
    this.channel = null;
    this.tiles = new Map();
    setInterval(() => this.race && this.renderInfo(), TICK_MS); // the countdown
  }

  /** Show a race and subscribe to its odds; `race` may be a stub ({race_id}) from a link.
   * Resolves once the channel is attached. */
  open(race) {
    this.close();
    this.race = {
      name: race.race_id,
      state: "scheduled",
      version: 0,
      in_play: false,
      placings: [],
      ...race,
      runners: (race.runners ?? []).map((runner) => ({ ...runner })),
    };
    this.elements.panel.hidden = false;
    this.elements.name.textContent = this.race.name;
    fill(this.elements.tiles);
    this.tiles.clear();
    for (const runner of this.race.runners) this.addTile(runner);
    this.renderState();
    // rewind=1: a re-attach that cannot resume (the edge restarted, or this page reconnected
    // elsewhere) starts from the newest odds, not from the next change, which may never come.
    this.channel = this.realtime.channels.get(`outbound:odds:${race.race_id}`, {
      params: { delta: "vcdiff", rewind: "1" },
    });
    this.listener = (message) => this.applyOdds(message.data);
    return this.channel.subscribe("odds", this.listener).catch((error) => {
      this.elements.info.textContent = `Live odds unavailable: ${error.message}`;
    });
  }

  close() {
    if (this.channel) {
      this.channel.unsubscribe("odds", this.listener);
      this.channel.detach().catch(() => {}); // a detach that fails leaves nothing to undo
    }
    this.channel = null;
    this.race = null;
    this.elements.panel.hidden = true;
  }

  /** Names, start, limits, placings and (if newer) prices from the race list. */
  update(race) {
    if (!race || race.race_id !== this.race?.race_id) return;
    for (const key of LISTED_FIELDS) {
      this.race[key] = race[key];
    }
    this.elements.name.textContent = race.name;
    for (const { runner_id: runnerId, name } of race.runners) {
      const runner = this.runner(runnerId);
      if (!runner) {
        const added = { runner_id: runnerId, name, odds: null };
        this.race.runners.push(added);
        this.addTile(added);
        continue;
      }
      runner.name = name;
      this.tiles.get(runnerId).querySelector(".tile-name").textContent = name;
    }
    const prices = race.runners.map((runner) => [runner.runner_id, runner.odds]);
    this.applyOdds({ race_id: race.race_id, version: race.version, state: race.state, prices });
    // A result or a void changes the state without new prices, so the odds may never say it:
    // a state later in a race's life than the one shown is taken from the list.
    if (race.version >= this.race.version || STAGE[race.state] > STAGE[this.race.state]) {
      this.race.state = race.state;
    }
    this.renderState();
  }

  runner(runnerId) {
    return this.race?.runners.find((runner) => runner.runner_id === runnerId);
  }

  applyOdds(odds) {
    if (!this.race || odds?.race_id !== this.race.race_id) return;
    if (odds.version <= this.race.version) return; // an older snapshot than the one shown
    this.race.version = odds.version;
    this.race.state = odds.state;
    for (const [runnerId, price] of odds.prices) {
      let runner = this.runner(runnerId);
      if (!runner) {
        runner = { runner_id: runnerId, name: runnerId, odds: null };
        this.race.runners.push(runner);
        this.addTile(runner);
      }
      const move = priceMove(runner.odds, price);
      runner.odds = price;
      this.renderTile(runner, move);
    }
    this.renderState();
    this.onOdds(this.race);
  }

  addTile(runner) {
    const tile = h(
      "button",
      {
        type: "button",
        className: "tile",
        dataset: { runnerId: runner.runner_id },
        onclick: () => this.pick(runner.runner_id),
      },
      h("span", { className: "tile-name" }, runner.name),
      h("span", { className: "price-main" }),
      h("span", { className: "price-other" }),
      h("span", { className: "tile-place" }),
    );
    this.tiles.set(runner.runner_id, tile);
    this.elements.tiles.append(tile);
    this.renderTile(runner, 0);
  }

  renderTile(runner, move) {
    const tile = this.tiles.get(runner.runner_id);
    const format = this.oddsFormat();
    tile.dataset.odds = runner.odds ?? "";
    tile.querySelector(".price-main").textContent = formatOdds(runner.odds, format);
    tile.querySelector(".price-other").textContent = otherFormat(runner.odds, format);
    tile.disabled = !this.isOpen() || runner.odds === null;
    if (move !== 0) flash(tile, move > 0 ? "flash-up" : "flash-down");
  }

  /** The odds format changed: redraw every price. */
  redraw() {
    if (!this.race) return;
    for (const runner of this.race.runners) this.renderTile(runner, 0);
  }

  isOpen() {
    return this.race?.state === "open";
  }

  renderState() {
    const [label, kind] = raceStatus(this.race);
    this.elements.state.textContent = label;
    this.elements.state.className = `badge state-${kind}`;
    this.elements.state.dataset.status = kind;
    this.elements.panel.dataset.state = this.race.state;
    this.elements.suspended.hidden = this.race.state !== "suspended";
    for (const runner of this.race.runners) {
      this.tiles.get(runner.runner_id).disabled = !this.isOpen() || runner.odds === null;
    }
    this.renderPlacings();
    this.renderInfo();
  }

  renderPlacings() {
    const placings = this.race.placings ?? [];
    const placed = new Map(placings.map((runnerId, index) => [runnerId, place(index)]));
    for (const [runnerId, tile] of this.tiles) {
      tile.querySelector(".tile-place").textContent = placed.get(runnerId) ?? "";
      tile.classList.toggle("placed", placed.has(runnerId));
    }
    const shown = placings.length > 0 && ["resulted", "settled"].includes(this.race.state);
    this.elements.placings.hidden = !shown;
    if (!shown) return;
    fill(
      this.elements.placings,
      h("b", {}, "Result: "),
      placings.map((runnerId, index) =>
        h("span", { className: "placing" }, `${place(index)} ${this.runner(runnerId)?.name ?? runnerId}`),
      ),
    );
  }

  /** The line under the title: a countdown, or what can be done now. */
  renderInfo() {
    const { state, in_play: inPlay, scheduled_start_ms: startMs } = this.race;
    const before = ["scheduled", "open", "suspended"].includes(state) && !inPlay;
    const toGo = before && typeof startMs === "number" ? countdown(startMs) : "";
    const lines = {
      open: inPlay ? "In play: tap a runner to bet at the live price." : "Tap a runner to bet.",
      scheduled: "Betting opens soon.",
      suspended: "Betting is suspended for a moment.",
      closed: "The race is off: betting has closed.",
      resulted: "The result is in; bets are being settled.",
      settled: "The race is settled.",
      void: "The race is void: stakes are returned.",
    };
    const line = lines[state] ?? "Betting is not open on this race.";
    this.elements.info.textContent = toGo ? `${toGo}. ${line}` : line;
  }

  pick(runnerId) {
    const runner = this.runner(runnerId);
    if (runner && this.isOpen() && runner.odds !== null) this.onPick(this.race, runner);
  }
}
