// Money is integer minor units (cents) and odds are decimal prices in hundredths: no float
// ever touches either. Strings come from the server ("2.50") and go back to it unchanged.

const STAKE_PATTERN = /^(\d{1,9})(?:[.,](\d{1,2}))?$/;
const ODDS_PATTERN = /^(\d{1,4})(?:\.(\d{1,2}))?$/;

/** "12.34" for 1234. */
export function formatMinor(minor) {
  const sign = minor < 0 ? "-" : "";
  const absolute = Math.abs(minor);
  const units = Math.floor(absolute / 100);
  const cents = String(absolute % 100).padStart(2, "0");
  return `${sign}${units.toLocaleString("en-GB")}.${cents}`;
}

/** 1234 for "12.34", "12,34" or " 12.3 "; null for anything that is not a plain amount. */
export function parseStakeMinor(text) {
  const match = STAKE_PATTERN.exec(String(text).trim());
  if (!match) return null;
  const cents = (match[2] ?? "").padEnd(2, "0");
  return Number(match[1]) * 100 + Number(cents);
}

/** 250 for "2.50"; null for a missing or malformed price. */
export function oddsHundredths(odds) {
  if (typeof odds !== "string") return null;
  const match = ODDS_PATTERN.exec(odds);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
}

function greatestCommonDivisor(a, b) {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

/** The fractional form of a decimal price: "3/2" for "2.50", "Evens" for "2.00". */
export function fractional(odds) {
  const hundredths = oddsHundredths(odds);
  if (hundredths === null || hundredths <= 100) return "";
  const numerator = hundredths - 100;
  if (numerator === 100) return "Evens";
  const divisor = greatestCommonDivisor(numerator, 100);
  return `${numerator / divisor}/${100 / divisor}`;
}

/** What a winning stake pays back at these odds, rounded down to the minor unit. */
export function returnMinor(stakeMinor, odds) {
  const hundredths = oddsHundredths(odds);
  if (hundredths === null) return null;
  return Math.floor((stakeMinor * hundredths) / 100);
}

/** -1, 0 or 1: how a price moved (a longer price is "up"). */
export function priceMove(before, after) {
  const a = oddsHundredths(before);
  const b = oddsHundredths(after);
  if (a === null || b === null || a === b) return 0;
  return b > a ? 1 : -1;
}
