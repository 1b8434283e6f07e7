// The commands that need more than a click: a result (finishing order), a void (reason), and
// a confirmation, naming the race and what will happen, before result, void and suspend.
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
    const names = placings.map((id, index) => `${PLACES[index]} ${nameOf(race, id)}`).join(", ");
    confirmIn(container, `Result ${race.name}: ${names}? Every bet on it is settled; this cannot be undone.`,
      "Confirm the result", () => submit(placings));
  });
  fill(container, form);
  selects[0].focus();
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
    const why = reason.value.trim();
    confirmIn(container, `Void ${race.name} (${why})? Every stake on it is returned; this cannot be undone.`,
      "Confirm the void", () => submit(why), "danger");
  });
  fill(container, form);
  reason.focus();
}

/** A confirmation in place of the form: `onConfirm` runs only on the confirm button. */
export function confirmIn(container, message, confirmLabel, onConfirm, kind = "") {
  const confirm = h(
    "button",
    { type: "button", id: "confirm-action", className: kind, onclick: () => onConfirm() },
    confirmLabel,
  );
  const panel = h(
    "div",
    { className: "action-form confirm", role: "alertdialog", "aria-label": confirmLabel },
    h("p", {}, message),
    confirm,
    h("button", { type: "button", className: "secondary", onclick: () => fill(container) }, "Cancel"),
  );
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") fill(container);
  });
  fill(container, panel);
  confirm.focus();
}

function nameOf(race, runnerId) {
  return race.runners.find((runner) => runner.runner_id === runnerId)?.name ?? runnerId;
}

function alertIn(form, message) {
  form.querySelector(".error")?.remove();
  form.append(h("p", { className: "error", role: "alert" }, message));
}
