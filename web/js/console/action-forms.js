// The two commands that need more than a click: a result (finishing order) and a void (reason).
import { fill, h } from "../lib/dom.js";

const PLACES = ["1st", "2nd", "3rd"];

/** Ask for the placings; `submit(placings)` gets runner ids in finishing order. */
export function showResultForm(container, race, submit) {
  const selects = PLACES.map((place, index) =>
    h(
      "select",
      { id: `place-${index + 1}`, "aria-label": place, required: index === 0 },
      h("option", { value: "" }, index === 0 ? "Choose the winner" : "(none)"),
      race.runners.map((runner) => h("option", { value: runner.runner_id }, runner.name)),
    ),
  );
  const form = h(
    "form",
    { className: "action-form", id: "result-form" },
    selects.map((select, index) =>
      h("div", {}, h("label", { for: select.id }, PLACES[index]), select),
    ),
    h("button", { type: "submit" }, "Result the race"),
    h("button", { type: "button", className: "secondary", onclick: () => fill(container) }, "Cancel"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const placings = selects.map((select) => select.value).filter(Boolean);
    if (new Set(placings).size !== placings.length) return alertIn(form, "A runner is placed twice.");
    submit(placings);
  });
  fill(container, form);
}

export function showVoidForm(container, race, submit) {
  const reason = h("input", { id: "void-reason", required: true, maxlength: 200 });
  const form = h(
    "form",
    { className: "action-form", id: "void-form" },
    h("div", {}, h("label", { for: "void-reason" }, `Why void ${race.name}?`), reason),
    h("button", { type: "submit", className: "danger" }, "Void the race"),
    h("button", { type: "button", className: "secondary", onclick: () => fill(container) }, "Cancel"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(reason.value.trim());
  });
  fill(container, form);
}

function alertIn(form, message) {
  form.querySelector(".error")?.remove();
  form.append(h("p", { className: "error", role: "alert" }, message));
}
