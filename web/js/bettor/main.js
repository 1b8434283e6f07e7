// The bettor page: sign in by name, watch races and live odds, bet, hear outcomes and notices.
import { byId } from "../lib/dom.js";
import { getJson } from "../lib/http.js";
import { connectRealtime, watchConnection } from "../lib/realtime.js";
import { MyBets } from "./bets.js";
import { Notices } from "./notices.js";
import { RaceView } from "./race-view.js";
import { RaceList } from "./races.js";
import { Session } from "./session.js";
import { BetSlip } from "./slip.js";

const USER_KEY = "betting.user";
const RACES_REFRESH_MS = 10_000;
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
  const page = buildPage(realtime, session, config.bet_shards);
  watchConnection(realtime, byId("connection"), () => page.refresh());
  subscribeToMyChannel(realtime, userId, page);
  window.addEventListener("hashchange", () => page.route());
  await page.refresh();
  setInterval(() => page.races.load(), RACES_REFRESH_MS);
}

function buildPage(realtime, session, betShards) {
  const userId = session.userId;
  const races = new RaceList(byId("races"), byId("races-error"));
  const describe = (bet) => {
    const race = races.get(bet.race_id);
    const runner = race?.runners.find((r) => r.runner_id === bet.runner_id);
    return `${runner?.name ?? bet.runner_id}, ${race?.name ?? bet.race_id}`;
  };
  const myBets = new MyBets(session, byId("bets"), byId("bets-error"), describe);
  const slip = new BetSlip(realtime, userId, betShards, myBets, slipElements());
  const raceView = new RaceView(realtime, raceElements(), {
    onPick: (race, runner) => slip.open(race, runner),
    onOdds: (race) => {
      races.updateState(race.race_id, race.state);
      slip.onOdds(race);
    },
  });
  const notices = new Notices(session, byId("notices"), byId("notify-toggle"));
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
  return { races, myBets, slip, notices, route, refresh };
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
    settlement: (data) => page.myBets.applySettlement(data),
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
    tiles: byId("tiles"),
  };
}

function slipElements() {
  return {
    panel: byId("slip"),
    runner: byId("slip-runner"),
    price: byId("slip-price"),
    form: byId("slip-form"),
    stake: byId("slip-stake"),
    returns: byId("slip-return"),
    place: byId("slip-place"),
    outcome: byId("slip-outcome"),
    close: byId("slip-close"),
  };
}

main();
