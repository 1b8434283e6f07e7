// Rejection reasons in words a bettor understands.

const REASONS = {
  RACE_NOT_OPEN: "Betting is not open on this race.",
  UNKNOWN_RUNNER: "That runner is not running.",
  STAKE_TOO_LOW: "The stake is below the minimum.",
  STAKE_TOO_HIGH: "The stake is above the maximum.",
  ODDS_CHANGED: "The price changed before your bet arrived.",
  LATE: "The price you saw had expired when your bet arrived.",
  LIABILITY_LIMIT: "We cannot take that much on this runner right now.",
  INVALID: "The bet could not be read.",
  BET_ID_REUSED: "That bet reference is already in use for another bet.",
};

export function reasonText(reason) {
  return REASONS[reason] ?? `Rejected (${reason ?? "no reason given"}).`;
}
