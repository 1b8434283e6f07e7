// Odds as the bettor chose to read them: decimal ("3.75") or the fractions bookmakers use
// ("11/4"). Prices are decimals in hundredths on the server's ladder, so most have no tidy
// fraction (3.65 is 53/20): each is shown as the largest bookmakers' fraction whose decimal,
// to the hundredth as prices are written (1/3 is 1.33), is at or below it, so a fraction
// never reads longer than the decimal price the bet is settled at.
import { oddsHundredths } from "./money.js";

export const ODDS_FORMATS = ["decimal", "fractional"];

// [numerator, denominator], ascending by value: the UK fractional ladder.
const FRACTIONS = [
  [1, 100], [1, 50], [1, 33], [1, 25], [1, 20], [1, 16], [1, 14], [1, 12], [1, 10], [1, 9],
  [1, 8], [2, 15], [1, 7], [1, 6], [2, 11], [1, 5], [2, 9], [1, 4], [2, 7], [3, 10], [1, 3],
  [4, 11], [2, 5], [4, 9], [1, 2], [8, 15], [4, 7], [8, 13], [4, 6], [8, 11], [4, 5], [5, 6],
  [10, 11], [1, 1], [11, 10], [6, 5], [5, 4], [11, 8], [6, 4], [13, 8], [7, 4], [15, 8],
  [2, 1], [9, 4], [5, 2], [11, 4], [3, 1], [10, 3], [7, 2], [4, 1], [9, 2], [5, 1], [11, 2],
  [6, 1], [13, 2], [7, 1], [15, 2], [8, 1], [17, 2], [9, 1], [10, 1], [11, 1], [12, 1],
  [14, 1], [16, 1], [18, 1], [20, 1], [22, 1], [25, 1], [28, 1], [33, 1], [40, 1], [50, 1],
  [66, 1], [80, 1], [100, 1], [125, 1], [150, 1], [200, 1], [250, 1], [300, 1], [400, 1],
  [500, 1], [750, 1], [999, 1],
];

/** "11/4" for "3.75", "5/2" for "3.65", "Evens" for "2.00"; "" for no price or 1.00. */
export function bookmakerFraction(odds) {
  const hundredths = oddsHundredths(odds);
  if (hundredths === null || hundredths <= 100) return "";
  const profit = hundredths - 100; // per 100 staked
  let best = null;
  for (const [numerator, denominator] of FRACTIONS) {
    // floor(100 * numerator / denominator) <= profit, in integers
    if (Math.floor((numerator * 100) / denominator) > profit) break;
    best = [numerator, denominator];
  }
  if (best === null) return "";
  return best[0] === best[1] ? "Evens" : `${best[0]}/${best[1]}`;
}

/** A price in the chosen format; "–" for none. */
export function formatOdds(odds, format) {
  if (!odds) return "–";
  return format === "fractional" ? bookmakerFraction(odds) || odds : odds;
}

/** The other format's rendering, for a smaller second line ("" when it says nothing new). */
export function otherFormat(odds, format) {
  if (!odds) return "";
  return format === "fractional" ? odds : bookmakerFraction(odds);
}

const FORMAT_KEY = "betting.oddsFormat";

export function savedOddsFormat(storage = globalThis.localStorage) {
  const saved = storage?.getItem(FORMAT_KEY);
  return ODDS_FORMATS.includes(saved) ? saved : "decimal";
}

export function saveOddsFormat(format, storage = globalThis.localStorage) {
  if (ODDS_FORMATS.includes(format)) storage?.setItem(FORMAT_KEY, format);
}
