// The operator console: create races, command them, watch the live book and the pipeline.
import { byId, fill } from "../lib/dom.js";
import { confirmIn, showResultForm, showVoidForm } from "./action-forms.js";
import { AdminApi, adminToken } from "./admin.js";
import { RaceBets } from "./bets-list.js";
import { BookView } from "./book.js";
import { CreateRaceForm } from "./create-race.js";
import { RaceTable } from "./race-table.js";
import { renderStats } from "./stats.js";

const BOOK_REFRESH_MS = 1_000;
const RACES_REFRESH_MS = 2_000;
const BETS_REFRESH_EVERY = 3; // book refreshes per reload of the bets list (a database query)
// A new race is in the read model once the engine has applied the command and the views
// have read it: a few hundred ms, more under load. The console waits this long at most.
const CREATED_WAIT_MS = 15_000;
const CREATED_POLL_MS = 250;

const api = new AdminApi((message) => askForToken(`Token refused: ${message}`));
const status = (kind, text) => {
  const element = byId("console-status");
  element.dataset.kind = kind;
  element.textContent = text;
};

const book = new BookView({
  panel: byId("book-panel"),
  title: byId("book-title"),
  state: byId("book-state"),
  summary: byId("book-summary"),
  result: byId("book-result"),
  rows: byId("book-rows"),
  actionForm: byId("action-form"),
});
const raceBets = new RaceBets(
  {
    rows: byId("race-bets-rows"),
    status: byId("bets-status"),
    runner: byId("bets-runner"),
    user: byId("bets-user"),
    count: byId("bets-count"),
  },
  api,
);
let bookRefreshes = 0;
const table = new RaceTable(byId("race-rows"), { onSelect: selectRace, onAction: act });

function askForToken(message = "") {
  adminToken.forget();
  byId("console").hidden = true;
  byId("forget-token").hidden = true;
  byId("token-gate").hidden = false;
  byId("token-error").textContent = message;
}

function openConsole() {
  byId("token-gate").hidden = true;
  byId("console").hidden = false;
  byId("forget-token").hidden = false;
  refreshRaces();
}

async function refreshRaces() {
  if (!adminToken.get()) return;
  try {
    const [{ races }, stats] = await Promise.all([api.races(), api.stats()]);
    table.render(races);
    renderStats(byId("stats"), stats);
  } catch (error) {
    if (adminToken.get()) status("error", `Could not load races: ${error.message}`);
  }
}

async function refreshBook() {
  if (!adminToken.get() || !book.raceId) return;
  try {
    const race = await api.race(book.raceId);
    book.render(race);
    if (bookRefreshes++ % BETS_REFRESH_EVERY === 0 || raceBets.raceId !== race.race_id) {
      await raceBets.load(race);
    }
  } catch (error) {
    if (adminToken.get()) status("error", `Could not load the book: ${error.message}`);
  }
}

function selectRace(raceId) {
  table.select(raceId);
  book.show(raceId);
  bookRefreshes = 0;
  refreshBook();
}

async function act(race, action) {
  selectRace(race.race_id);
  const container = byId("action-form");
  if (action === "result") {
    return showResultForm(container, race, (placings) => command(race, "result", { placings }));
  }
  if (action === "void") {
    return showVoidForm(container, race, (reason) => command(race, "void", { reason }));
  }
  if (action === "suspend") {
    const message = `Suspend ${race.name}? No bets are taken until it is resumed.`;
    return confirmIn(container, message, "Confirm the suspension", () => command(race, "suspend"));
  }
  command(race, action);
}

async function command(race, action, body = {}) {
  try {
    await api.act(race.race_id, action, body);
    status("ok", `${race.name}: ${action} sent.`);
    fill(byId("action-form"));
  } catch (error) {
    status("error", `${race.name}: ${action} refused: ${error.message}`);
  }
  refreshRaces();
  refreshBook();
}

async function createRace(body, problem) {
  if (!body) return status("error", problem);
  try {
    const { race_id: raceId } = await api.createRace(body);
    status("pending", `Creating ${body.name}…`);
    if (!(await untilRaceKnown(raceId))) {
      const late = "has not appeared yet; it shows here once the engine has applied it";
      return status("error", `${body.name} was sent (${raceId}) but ${late}.`);
    }
    status("ok", `Race ${body.name} created (${raceId}).`);
    await refreshRaces();
    selectRace(raceId);
  } catch (error) {
    status("error", `Could not create the race: ${error.message}`);
    throw error;
  }
}

/** Whether the read model shows the race within the wait: the operator sees what they did.
 * It asks the list (which answers 200 either way), not the race (404 until it is there). */
async function untilRaceKnown(raceId) {
  const deadline = Date.now() + CREATED_WAIT_MS;
  while (Date.now() < deadline) {
    const { races } = await api.races();
    if (races.some((race) => race.race_id === raceId)) return true;
    await new Promise((resolve) => setTimeout(resolve, CREATED_POLL_MS));
  }
  return false;
}

function every(intervalMs, work) {
  const loop = async () => {
    await work();
    setTimeout(loop, intervalMs);
  };
  setTimeout(loop, intervalMs);
}

function main() {
  new CreateRaceForm(byId("create-form"), createRace);
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    adminToken.set(byId("admin-token").value.trim());
    byId("admin-token").value = "";
    openConsole();
  });
  byId("forget-token").addEventListener("click", () => askForToken());
  byId("book-close").addEventListener("click", () => {
    book.hide();
    table.select(null);
  });
  if (adminToken.get()) openConsole();
  every(RACES_REFRESH_MS, refreshRaces);
  every(BOOK_REFRESH_MS, refreshBook);
}

main();
