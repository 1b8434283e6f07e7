// An odds history chart: an inline SVG polyline, log-scaled because odds are ratios, with a
// price axis (the highest and lowest price seen) and a time axis (oldest to now).
import { oddsHundredths } from "../lib/money.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 200;
const HEIGHT = 56;
const LEFT = 34; // room for the price labels
const BOTTOM = 12; // room for the time labels
const PADDING = 4;

function svg(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** `prices` are decimal strings, oldest first. */
export function oddsChart(prices) {
  const values = prices.map(oddsHundredths).filter((value) => value !== null);
  const chart = svg("svg", {
    class: "spark",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": values.length ? `odds from ${prices[0]} to ${prices.at(-1)}` : "no odds yet",
  });
  const plotBottom = HEIGHT - BOTTOM;
  chart.append(
    svg("line", { class: "axis", x1: LEFT, y1: PADDING, x2: LEFT, y2: plotBottom }),
    svg("line", { class: "axis", x1: LEFT, y1: plotBottom, x2: WIDTH - PADDING, y2: plotBottom }),
    svg("text", { x: LEFT, y: HEIGHT - 2, class: "axis-label" }, "older"),
    svg("text", { x: WIDTH - PADDING, y: HEIGHT - 2, class: "axis-label", "text-anchor": "end" }, "now"),
  );
  if (values.length === 0) return chart;
  const logs = values.map(Math.log);
  const low = Math.min(...logs);
  const span = Math.max(...logs) - low || 1;
  const left = LEFT + PADDING;
  const step = values.length > 1 ? (WIDTH - PADDING - left) / (values.length - 1) : 0;
  const points = logs.map((value, index) => {
    const x = left + index * step;
    const y = plotBottom - PADDING - ((value - low) / span) * (plotBottom - 2 * PADDING);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (points.length === 1) points.push(`${WIDTH - PADDING},${points[0].split(",")[1]}`);
  const high = Math.max(...values);
  const lowest = Math.min(...values);
  const label = (y, hundredths) =>
    svg("text", { x: LEFT - 3, y, class: "axis-label", "text-anchor": "end" }, price(hundredths));
  // One label for a flat line, at its height; otherwise the highest and the lowest price.
  const flatAt = Number(points[0].split(",")[1]) + 3;
  const labels = high === lowest
    ? [label(flatAt, high)]
    : [label(PADDING + 6, high), label(plotBottom - 1, lowest)];
  chart.append(...labels);
  chart.append(
    svg("polyline", { points: points.join(" ") }),
    svg("title", {}, `${values.length} prices, ${prices[0]} to ${prices.at(-1)}`),
  );
  return chart;
}

function price(hundredths) {
  return `${Math.floor(hundredths / 100)}.${String(hundredths % 100).padStart(2, "0")}`;
}
