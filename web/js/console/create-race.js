// The create-race form. Its request id is made once per draft and reused if the same draft
// is sent again (a retry after a network error creates the race once); editing starts anew.
import { randomId } from "../lib/dom.js";

const DEFAULT_START_AHEAD_MS = 10 * 60_000;
const RUNNER_LINE = /^(.+?)(?:\s*,\s*(-?\d+))?$/;

export class CreateRaceForm {
  constructor(form, submit) {
    this.form = form;
    this.submit = submit; // async (body) -> void; throws to keep the draft
    this.requestId = randomId();
    this.resetStart();
    form.addEventListener("input", () => {
      this.requestId = randomId();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  resetStart() {
    const start = new Date(Date.now() + DEFAULT_START_AHEAD_MS);
    start.setSeconds(0, 0);
    const local = new Date(start.getTime() - start.getTimezoneOffset() * 60_000);
    this.form.elements.start.value = local.toISOString().slice(0, 16);
  }

  async send() {
    const body = this.body();
    if (typeof body === "string") return this.submit(null, body);
    try {
      await this.submit(body);
      this.form.reset();
      this.resetStart();
      this.requestId = randomId();
    } catch {
      // The draft stays, with its request id, for a retry.
    }
  }

  /** The request body, or a message saying what is wrong. */
  body() {
    const fields = this.form.elements;
    const runners = parseRunners(fields.runners.value);
    if (runners.length < 2) return "A race needs at least two runners.";
    const scheduledStartMs = new Date(fields.start.value).getTime();
    if (Number.isNaN(scheduledStartMs)) return "Set the scheduled start.";
    const body = {
      name: fields.name.value.trim(),
      runners,
      scheduled_start_ms: scheduledStartMs,
      request_id: this.requestId,
    };
    if (fields.margin_bp.value !== "") body.margin_bp = Number.parseInt(fields.margin_bp.value, 10);
    return body;
  }
}

/** "Thunder Road, 120" lines -> [{runner_id: "thunder-road", name, rating: 120}, ...]. */
export function parseRunners(text) {
  const taken = new Set();
  const runners = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [, name, rating] = RUNNER_LINE.exec(line);
    let runnerId = slug(name) || `runner-${runners.length + 1}`;
    for (let n = 2; taken.has(runnerId); n++) runnerId = `${slug(name)}-${n}`;
    taken.add(runnerId);
    runners.push({ runner_id: runnerId, name, rating: rating === undefined ? null : Number(rating) });
  }
  return runners;
}

function slug(name) {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
}
