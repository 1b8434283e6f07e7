// Pipeline figures in the header: bets per second, acceptance rate, rejections by reason.
import { fill, h } from "../lib/dom.js";

export function renderStats(container, stats) {
  const rejected = Object.entries(stats.rejected ?? {})
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(", ");
  fill(
    container,
    figure("Bets/s", Number(stats.bets_per_s).toFixed(1), "stat-bets-per-s"),
    figure("Accepted", formatRate(stats.acceptance_rate), "stat-acceptance"),
    figure("Accepted bets", String(stats.accepted), "stat-accepted"),
    rejected ? h("span", { className: "muted-light" }, `Rejected: ${rejected}`) : null,
  );
}

function figure(label, value, id) {
  return h("span", { id }, `${label} `, h("b", {}, value));
}

/** The acceptance rate as a percentage; the server gives a fraction of 1. */
function formatRate(rate) {
  if (typeof rate !== "number" || Number.isNaN(rate)) return "–";
  return `${(rate * 100).toFixed(1)}%`;
}
