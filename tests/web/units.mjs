// The page's pure modules under Node: prints one JSON object the Python test checks.
// Usage: node units.mjs <web dir>
import path from "node:path";
import { pathToFileURL } from "node:url";

const webDir = process.argv[2];
const load = (file) => import(pathToFileURL(path.join(webDir, "js", "lib", file)).href);
const money = await load("money.js");
const { crc32, betsShard } = await load("crc32.js");
const odds = await load("odds-format.js");
const bettor = (file) => import(pathToFileURL(path.join(webDir, "js", "bettor", file)).href);
const races = await bettor("races.js");
const notices = await bettor("notices.js");
const NOW = 1_800_000_000_000;
const race = (state, inPlay, startInMs) => ({ state, in_play: inPlay, scheduled_start_ms: NOW + startInMs });
const bet = (status, payout) => ({ status, payout_minor: payout, stake_minor: 1000 });
const ladder = [];
for (let hundredths = 101; hundredths <= 100000; hundredths += 1) {
  ladder.push(`${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, "0")}`);
}

const ids = ["alice", "bob", "", "ünïcødé", "user-42", "a.b_c-d"];
console.log(
  JSON.stringify({
    crc32: Object.fromEntries(ids.map((id) => [id, crc32(id)])),
    shard: betsShard("alice", 4),
    formatMinor: [0, 5, 1234, 100000, -250].map(money.formatMinor),
    parseStakeMinor: ["10", "10.5", "10.55", "0.01", "12,34", " 7 ", "1.234", "-1", "", "1e3"].map(
      money.parseStakeMinor,
    ),
    oddsHundredths: ["2.50", "1.01", "1000", "abc", null].map(money.oddsHundredths),
    fractional: ["2.50", "2.00", "1.01", "3.33", "11.00"].map(money.fractional),
    returnMinor: [money.returnMinor(1000, "2.50"), money.returnMinor(333, "1.01")],
    bookmakerFraction: ["3.75", "3.65", "3.50", "2.00", "1.01", "1.00", "2.37", "1.33", "1.34", "1000.00", "abc", null].map(
      odds.bookmakerFraction,
    ),
    formatOdds: [odds.formatOdds("2.62", "fractional"), odds.formatOdds("2.62", "decimal"), odds.formatOdds(null, "fractional")],
    fractionLadder: Object.fromEntries(ladder.map((price) => [price, odds.bookmakerFraction(price)])),
    raceStatus: [
      race("scheduled", false, 60_000), race("scheduled", false, -1), race("open", false, 5_000),
      race("open", false, -60_000), race("open", true, -60_000), race("suspended", true, -1),
      race("suspended", false, 10), race("closed", true, -1), race("settled", true, -1), race("void", false, -1),
    ].map((r) => races.raceStatus(r, NOW)),
    countdown: [65_000, 1_000, 999, 0, -5_000, 3 * 3_600_000 + 125_000].map((ms) => races.countdown(NOW + ms, NOW)),
    summarise: [
      notices.summarise("Cup", [bet("won", 3500), bet("lost", 0)], "EUR"),
      notices.summarise("Cup", [bet("lost", 0)], "EUR"),
      notices.summarise("Cup", [bet("refunded", 1000), bet("void", 1000)], "EUR"),
      notices.summarise("Cup", [bet("won", 150000), bet("refunded", 1000)], "EUR"),
    ],
    priceMove: [money.priceMove("2.50", "2.60"), money.priceMove("2.50", "2.40"), money.priceMove(null, "2.40")],
  }),
);
