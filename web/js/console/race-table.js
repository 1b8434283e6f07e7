// The races table: one row per race with the commands its state allows. Rows are rebuilt
// only when what they show changed, so a button is not swapped out under the pointer.
import { formatTime, h } from "../lib/dom.js";
import { formatMinor } from "../lib/money.js";

/** Commands an operator may give in each state; the server still decides. */
export const ACTIONS_BY_STATE = {
  scheduled: ["open", "void"],
  open: ["suspend", "start", "close", "void"],
  suspended: ["resume", "close", "void"],
  closed: ["result", "void"],
  resulted: ["void"], // a resulted race settles by itself
  settled: [],
  void: [],
};

const DECIDED = new Set(["resulted", "settled", "void"]);

export class RaceTable {
  constructor(tableBody, { onSelect, onAction }) {
    this.tableBody = tableBody;
    this.onSelect = onSelect; // (raceId) -> void
    this.onAction = onAction; // (race, action) -> void
    this.rows = new Map(); // race_id -> { row, signature }
    this.selected = null;
  }

  render(races) {
    const sorted = [...races].sort((a, b) => b.scheduled_start_ms - a.scheduled_start_ms);
    const keep = new Set();
    for (const race of sorted) {
      keep.add(race.race_id);
      const signature = JSON.stringify([race, race.race_id === this.selected]);
      const known = this.rows.get(race.race_id);
      if (known?.signature === signature) continue;
      const row = this.row(race);
      if (known) known.row.replaceWith(row);
      this.rows.set(race.race_id, { row, signature });
    }
    for (const [raceId, { row }] of this.rows) {
      if (!keep.has(raceId)) {
        row.remove();
        this.rows.delete(raceId);
      }
    }
    this.tableBody.append(...sorted.map((race) => this.rows.get(race.race_id).row));
  }

  select(raceId) {
    this.selected = raceId;
    for (const [id, { row }] of this.rows) row.classList.toggle("selected", id === raceId);
  }

  row(race) {
    const actions = (ACTIONS_BY_STATE[race.state] ?? []).filter(
      (action) => !(action === "start" && race.in_play),
    );
    return h(
      "tr",
      {
        dataset: { raceId: race.race_id, state: race.state },
        className: race.race_id === this.selected ? "selected" : "",
      },
      h(
        "td",
        {},
        h(
          "button",
          {
            type: "button",
            className: "link race-open",
            "aria-label": `Open the book of ${race.name}`,
            onclick: () => this.onSelect(race.race_id),
          },
          race.name,
        ),
        h("div", { className: "muted" }, race.race_id),
      ),
      h("td", {}, raceBadges(race)),
      h("td", {}, formatTime(race.scheduled_start_ms)),
      h("td", { className: "number" }, money(race.pool_minor)),
      h(
        "td",
        { className: `number ${race.race_liability_minor > 0 ? "loss" : "profit"}` },
        // Once decided there is no worst case left: the book shows the house's P&L instead.
        DECIDED.has(race.state) ? "–" : signed(-race.race_liability_minor),
      ),
      h(
        "td",
        {},
        h(
          "div",
          { className: "actions" },
          actions.map((action) =>
          h(
            "button",
            {
              type: "button",
              className: action === "void" ? "danger" : "secondary",
              dataset: { action },
              onclick: () => this.onAction(race, action),
            },
              action,
            ),
          ),
        ),
      ),
    );
  }
}

/** The state, and "in play" only while the race runs (not once it is decided). */
export function raceBadges(race) {
  const running = race.in_play && (race.state === "open" || race.state === "suspended");
  return [
    h("span", { className: `badge state-${race.state}` }, race.state),
    running ? h("span", { className: "badge in-play" }, "in play") : null,
  ];
}

export function money(minor) {
  return typeof minor === "number" ? formatMinor(minor) : "–";
}

/** "+12.00" or "−50.00": the sign always shown, a true minus. */
export function signed(minor) {
  if (typeof minor !== "number" || Number.isNaN(minor)) return "–";
  return minor < 0 ? `−${money(-minor)}` : `+${money(minor)}`;
}
