// A small odds history chart: an inline SVG polyline, log-scaled because odds are ratios.
import { oddsHundredths } from "../lib/money.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 160;
const HEIGHT = 36;
const PADDING = 3;

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
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
  if (values.length === 0) return chart;
  const logs = values.map(Math.log);
  const low = Math.min(...logs);
  const span = Math.max(...logs) - low || 1;
  const step = values.length > 1 ? (WIDTH - 2 * PADDING) / (values.length - 1) : 0;
  const points = logs.map((value, index) => {
    const x = PADDING + index * step;
    const y = HEIGHT - PADDING - ((value - low) / span) * (HEIGHT - 2 * PADDING);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (points.length === 1) points.push(`${WIDTH - PADDING},${points[0].split(",")[1]}`);
  chart.append(svg("polyline", { points: points.join(" ") }));
  const title = svg("title");
  title.textContent = `${values.length} prices, ${prices[0]} to ${prices.at(-1)}`;
  chart.append(title);
  return chart;
}
