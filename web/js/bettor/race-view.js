// One race: a tile per runner whose price changes live from the race's odds channel (with
// vcdiff deltas). Tapping an open runner's tile picks it for the bet slip.
import { fill, flash, h } from "../lib/dom.js";
import { fractional, priceMove } from "../lib/money.js";
import { STATE_LABELS } from "./races.js";

export class RaceView {
  constructor(realtime, elements, { onPick, onOdds }) {
    this.realtime = realtime;
    this.elements = elements; // panel, name, state, info, tiles
    this.onPick = onPick;
    this.onOdds = onOdds;
    this.race = null;
    this.channel = null;
    this.tiles = new Map();
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
      ...race,
      runners: (race.runners ?? []).map((runner) => ({ ...runner })),
    };
    this.elements.panel.hidden = false;
    this.elements.name.textContent = this.race.name;
    fill(this.elements.tiles);
    this.tiles.clear();
    for (const runner of this.race.runners) this.addTile(runner);
    this.renderState();
    this.channel = this.realtime.channels.get(`outbound:odds:${race.race_id}`, {
      params: { delta: "vcdiff" },
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

  /** Names, in-play flag and (if newer) prices from the race list, e.g. after a reconnect. */
  update(race) {
    if (!race || race.race_id !== this.race?.race_id) return;
    this.race.name = race.name;
    this.race.in_play = race.in_play;
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
      h("span", { className: "price-decimal" }),
      h("span", { className: "price-fractional" }),
    );
    this.tiles.set(runner.runner_id, tile);
    this.elements.tiles.append(tile);
    this.renderTile(runner, 0);
  }

  renderTile(runner, move) {
    const tile = this.tiles.get(runner.runner_id);
    tile.querySelector(".price-decimal").textContent = runner.odds ?? "–";
    tile.querySelector(".price-fractional").textContent = fractional(runner.odds);
    tile.disabled = !this.isOpen() || runner.odds === null;
    if (move !== 0) flash(tile, move > 0 ? "flash-up" : "flash-down");
  }

  isOpen() {
    return this.race?.state === "open";
  }

  renderState() {
    const { state, in_play: inPlay } = this.race;
    const label = inPlay && state === "open" ? "In play" : (STATE_LABELS[state] ?? state);
    this.elements.state.textContent = label;
    this.elements.state.className = `badge state-${state}`;
    this.elements.info.textContent = this.isOpen()
      ? "Tap a runner to bet."
      : "Betting is not open on this race.";
    for (const runner of this.race.runners) {
      this.tiles.get(runner.runner_id).disabled = !this.isOpen() || runner.odds === null;
    }
  }

  pick(runnerId) {
    const runner = this.runner(runnerId);
    if (runner && this.isOpen() && runner.odds !== null) this.onPick(this.race, runner);
  }
}
