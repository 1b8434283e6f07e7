// The bettor page: sign in by name, watch races and live odds, bet, hear outcomes and notices.
import { byId } from "../lib/dom.js";
import { getJson } from "../lib/http.js";
import { savedOddsFormat, saveOddsFormat } from "../lib/odds-format.js";
import { connectRealtime, watchConnection } from "../lib/realtime.js";
import { MyBets } from "./bets.js";
import { Notices } from "./notices.js";
import { RaceView } from "./race-view.js";
import { RaceList } from "./races.js";
import { Session } from "./session.js";
import { BetSlip } from "./slip.js";

const USER_KEY = "betting.user";
const RACES_REFRESH_MS = 10_000;
// The odds carry prices and state; whether a race is in play and its placings come with the
// race list, read this often while a race that can still change is on screen.
const RACE_FOLLOW_MS = 2_000;
const FINAL_STATES = new Set(["settled", "void"]);
// The server's one id rule (betting/domain/ids.py); JS `$` without the m flag is the very end.
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

function main() {
  const remembered = localStorage.getItem(USER_KEY);
  if (remembered && USER_ID.test(remembered)) return start(remembered);
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const userId = byId("user-id").value.trim();
    if (!USER_ID.test(userId)) {
      byId("sign-in-error").textContent =
        "Use 1 to 128 letters, digits, _ . @ or -, starting with a letter or digit.";
      return;
    }
    start(userId).catch((error) => {
      byId("sign-in-error").textContent = `Could not sign in: ${error.message}`;
    });
  });
}

async function start(userId) {
  const config = await getJson("/api/config");
  localStorage.setItem(USER_KEY, userId);
  byId("sign-in").hidden = true;
  byId("app").hidden = false;
  byId("account").hidden = false;
  byId("who").textContent = userId;

  const session = new Session(userId);
  const realtime = connectRealtime(config.edge, userId, () => session.tokenRequest());
  byId("sign-out").addEventListener("click", () => signOut(realtime));
  const page = buildPage(realtime, session, config);
  watchConnection(realtime, byId("connection"), () => page.refresh());
  subscribeToMyChannel(realtime, userId, page);
  window.addEventListener("hashchange", () => page.route());
  await Promise.all([page.refresh(), page.notices.load()]);
  setInterval(() => page.races.load(), RACES_REFRESH_MS);
  setInterval(() => page.followRace(), RACE_FOLLOW_MS);
}

function buildPage(realtime, session, config) {
  const userId = session.userId;
  const display = oddsDisplay(config.currency ?? "");
  const races = new RaceList(byId("races"), byId("races-error"));
  const describe = (bet) => {
    const race = races.get(bet.race_id);
    const runner = race?.runners.find((r) => r.runner_id === bet.runner_id);
    return { runner: runner?.name ?? bet.runner_id, race: race?.name ?? bet.race_id };
  };
  const myBets = new MyBets(session, betsElements(), describe, display);
  const slip = new BetSlip(realtime, userId, config.bet_shards, myBets, slipElements(), display);
  const raceView = new RaceView(realtime, raceElements(), {
    onPick: (race, runner) => slip.open(race, runner),
    onOdds: (race) => {
      races.updateState(race.race_id, race.state);
      slip.onOdds(race);
    },
    oddsFormat: display.oddsFormat,
  });
  const notices = new Notices(session, byId("notices"), byId("notify-toggle"), {
    describeRace: (raceId) => races.get(raceId)?.name ?? raceId,
    betsOfRace: (raceId) => [...myBets.bets.values()].filter((bet) => bet.race_id === raceId),
    currency: display.currency,
  });
  byId("odds-format").addEventListener("change", () => {
    display.setOddsFormat(byId("odds-format").value);
    raceView.redraw();
    slip.redraw();
    myBets.render();
  });
  byId("race-back").addEventListener("click", () => {
    window.location.hash = "";
  });

  const route = async () => {
    const raceId = new URLSearchParams(window.location.hash.slice(1)).get("race");
    if (!raceId) {
      raceView.close();
      slip.close();
      byId("races-panel").hidden = false;
      return;
    }
    if (raceView.race?.race_id === raceId) return raceView.update(races.get(raceId));
    slip.close();
    byId("races-panel").hidden = true;
    // Attach first, then take the snapshot: odds from either side of it are not missed.
    await raceView.open(races.get(raceId) ?? { race_id: raceId });
    await races.load();
    raceView.update(races.get(raceId));
  };
  const refresh = async () => {
    await Promise.all([races.load(), myBets.load()]);
    myBets.render(); // names of races may have arrived
    route();
  };
  let settledSeen = null; // the race the list last said was final (the odds may say it first)
  const followRace = async () => {
    const raceId = raceView.race?.race_id;
    if (!raceId || settledSeen === raceId) return;
    await races.load();
    const listed = races.get(raceId);
    if (FINAL_STATES.has(listed?.state)) settledSeen = raceId;
    raceView.update(listed);
  };
  return { races, myBets, slip, notices, route, refresh, followRace };
}

/** The currency, and the odds format the bettor chose (kept in this browser). */
function oddsDisplay(currency) {
  let format = savedOddsFormat();
  byId("odds-format").value = format;
  return {
    currency,
    oddsFormat: () => format,
    setOddsFormat: (chosen) => {
      format = chosen === "fractional" ? "fractional" : "decimal";
      saveOddsFormat(format);
    },
  };
}

const SEEN_IDS_MAX = 10000;

// While Ably can resume my channel it delivers everything in order. When it cannot (the edge
// restarted, the page reconnected elsewhere, the channel was suspended), the re-attach says
// resumed=false and brings only new messages: the page then reads the channel's history (its
// last two minutes). Each message is handled once, by id, however it came.
function subscribeToMyChannel(realtime, userId, page) {
  const channel = realtime.channels.get(`outbound:user:${userId}`);
  const handlers = {
    outcome: (data) => {
      page.myBets.applyOutcome(data);
      page.slip.onOutcome(data);
    },
    settlement: (data) => {
      page.myBets.applySettlement(data);
      page.notices.raceSettled(data.race_id);
    },
    notice: (data) => page.notices.show(data),
  };
  const seen = new Set();
  const handle = (message) => {
    if (message.id) {
      if (seen.has(message.id)) return;
      seen.add(message.id);
      if (seen.size > SEEN_IDS_MAX) seen.delete(seen.values().next().value);
    }
    handlers[message.name]?.(message.data);
  };
  const fillGap = async () => {
    try {
      const history = await channel.history({ limit: 100 });
      for (const message of [...history.items].reverse()) handle(message);
    } catch {
      await page.myBets.load(); // the list from the server is the truth
    }
  };
  let attachedBefore = false;
  channel.on("attached", (change) => {
    if (attachedBefore && !change.resumed) fillGap();
    attachedBefore = true;
  });
  channel.on("update", (change) => {
    if (!change.resumed) fillGap();
  });
  channel.subscribe(handle);
}

function signOut(realtime) {
  localStorage.removeItem(USER_KEY);
  realtime.close();
  window.location.hash = "";
  window.location.reload();
}

function raceElements() {
  return {
    panel: byId("race-panel"),
    name: byId("race-name"),
    state: byId("race-state"),
    info: byId("race-info"),
    placings: byId("race-placings"),
    tiles: byId("tiles"),
    suspended: byId("suspended"),
  };
}

function slipElements() {
  return {
    panel: byId("slip"),
    runner: byId("slip-runner"),
    price: byId("slip-price"),
    priceChange: byId("slip-price-change"),
    lock: byId("slip-lock"),
    form: byId("slip-form"),
    fieldset: byId("slip-fieldset"),
    currency: byId("slip-currency"),
    stake: byId("slip-stake"),
    limits: byId("slip-limits"),
    quick: byId("slip-quick"),
    acceptHigher: byId("slip-accept-higher"),
    returns: byId("slip-return"),
    place: byId("slip-place"),
    receipt: byId("slip-receipt"),
    outcome: byId("slip-outcome"),
    close: byId("slip-close"),
  };
}

function betsElements() {
  return {
    body: byId("bets"),
    error: byId("bets-error"),
    totals: byId("bets-totals"),
    tabs: { open: byId("bets-tab-open"), settled: byId("bets-tab-settled") },
  };
}

main();
