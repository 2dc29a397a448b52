// Modal dialogs (one native <dialog>): note, call outcome, dispatch, resolve, shortcuts help.
// Each collects input and hands it to ``submit``; an API error is shown inside the dialog,
// which stays open so nothing typed is lost.

import { ApiError } from "./api.js";
import { $, h, typing } from "./dom.js";
import { label, t } from "./i18n.js";

export const OUTCOMES = ["genuine", "false_alarm", "accidental", "test", "no_response",
  "resolved_by_phone", "technical"];
export const CALL_OUTCOMES = ["answered", "no_answer", "busy", "wrong_number", "voicemail"];
export const DISPATCH_KINDS = ["contact", "community_worker", "ambulance"];

const dialog = () => $("dialog.modal");

export function dialogOpen() {
  return dialog().open;
}

export function closeDialog() {
  if (dialog().open) dialog().close();
}

/** Show a form dialog; ``submit(form)`` may throw an ApiError (shown, dialog stays open).
 * Other features' dialogs use it too (also exported as ``formDialog``). */
export function show({ testid, title, body, submitLabel, submit, finish = false, keys = null }) {
  const el = dialog();
  const error = h("p.error", { testid: "dialog-error", role: "alert", hidden: true });
  const confirm = h(`button.${finish ? "finish" : "primary"}`, { type: "submit",
    testid: "dialog-submit" }, submitLabel || t("dialog.save"));
  const form = h("form", { method: "dialog", testid },
    h("h2", {}, title), body, error,
    h("div.dialog-buttons", {},
      h("button", { type: "button", testid: "dialog-cancel", onclick: () => el.close() },
        t("dialog.cancel")),
      confirm));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    error.hidden = true;
    try {
      await submit(form);
      el.close();
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.explain() : String(exc.message || exc);
      error.hidden = false;
    } finally {
      confirm.disabled = false;
    }
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    } else if (keys && !typing(event.target)) {
      keys(event, form);
    }
  });
  el.replaceChildren(form);
  el.showModal();
  const first = form.querySelector("[autofocus]") || form.querySelector("input, textarea, select");
  first?.focus();
  return form;
}

export { show as formDialog };

function noteField(placeholder = "") {
  return h("label.block", {}, h("span", {}, t("dialog.note_label"), " ",
    h("span.muted", {}, t("dialog.optional"))),
  h("textarea", { name: "note", rows: 2, maxlength: 2000, placeholder, testid: "dialog-note" }));
}

function radios(name, values, kind, { numbered = false, checked = null } = {}) {
  return h("div.choices", { role: "radiogroup" }, values.map((value, i) => h("label.choice", {},
    h("input", { type: "radio", name, value, required: true, checked: value === checked,
      autofocus: i === 0, testid: `${name}-${value}` }),
    numbered ? h("kbd", {}, String(i + 1)) : null,
    h("span", {}, label(kind, value)))));
}

function pickByNumber(name) {
  return (event, form) => {
    const n = Number(event.key);
    const options = form.querySelectorAll(`input[name="${name}"]`);
    if (n >= 1 && n <= options.length) {
      event.preventDefault();
      options[n - 1].checked = true;
      options[n - 1].focus();
    } else if (event.key === "Enter" && event.target.type === "radio") {
      event.preventDefault();
      form.requestSubmit();
    }
  };
}

export function noteDialog(submit) {
  show({
    testid: "note-form", title: t("dialog.note.title"),
    body: h("textarea", { name: "text", rows: 4, required: true, maxlength: 2000, autofocus: true,
      placeholder: t("dialog.note.placeholder"), testid: "note-text" }),
    submit: (form) => submit(form.elements.text.value.trim()),
  });
}

export function callDialog(detail, contactId, submit) {
  const residents = detail.residents || [];
  const options = [
    ...(detail.contacts || []).map((c) => h("option", { value: `c${c.id}`, selected: c.id === contactId },
      `${c.call_order}. ${c.name}${c.relation ? `（${c.relation}）` : ""} ${c.phone}`)),
    ...residents.filter((r) => r.phone).map((r) => h("option", { value: `r${r.id}` },
      `${t("dialog.call.resident")} ${r.name} ${r.phone}`)),
    h("option", { value: "other" }, t("dialog.call.other")),
  ];
  const number = h("input", { name: "number", maxlength: 40, testid: "call-number",
    placeholder: t("dialog.call.number") });
  const who = h("select", { name: "who", testid: "call-who" }, options);
  const syncNumber = () => { number.hidden = who.value !== "other"; };
  who.addEventListener("change", syncNumber);
  syncNumber();
  show({
    testid: "call-form", title: t("dialog.call.title"),
    body: [h("label.block", {}, h("span", {}, t("dialog.call.who")), who, number),
      h("fieldset", {}, h("legend", {}, t("dialog.call.outcome")),
        radios("call_outcome", CALL_OUTCOMES, "call", { numbered: true })),
      noteField()],
    keys: pickByNumber("call_outcome"),
    submit: (form) => {
      const choice = form.elements.who.value;
      const body = { outcome: form.elements.call_outcome.value, note: form.elements.note.value };
      if (choice.startsWith("c")) {
        const contact = detail.contacts.find((c) => `c${c.id}` === choice);
        Object.assign(body, { contact_id: contact.id, number: contact.phone });
      } else if (choice.startsWith("r")) {
        body.number = residents.find((r) => `r${r.id}` === choice).phone;
      } else if (form.elements.number.value.trim()) {
        body.number = form.elements.number.value.trim();
      }
      return submit(body);
    },
  });
}

export function dispatchDialog(detail, submit) {
  const first = (detail.contacts || [])[0];
  const suggestion = {
    contact: first ? `${first.name} ${first.phone}` : "",
    community_worker: detail.region || "",
    ambulance: "120",
  };
  // the target is suggested from the kind until the operator types one
  const target = h("input", { name: "target", maxlength: 200, testid: "dispatch-target",
    oninput: () => { delete target.dataset.suggested; } });
  const suggest = (kind) => {
    if (!target.value || target.dataset.suggested) {
      target.value = suggestion[kind] ?? "";
      target.dataset.suggested = "1";
    }
  };
  const kinds = radios("kind", DISPATCH_KINDS, "dkind", { numbered: true });
  kinds.addEventListener("change", (event) => suggest(event.target.value));
  show({
    testid: "dispatch-form", title: t("dialog.dispatch.title"),
    submitLabel: t("dialog.dispatch.confirm"),
    body: [h("fieldset", {}, h("legend", {}, t("dialog.dispatch.kind")), kinds),
      h("label.block", {}, h("span", {}, t("dialog.dispatch.target")), target), noteField()],
    keys: (event, form) => {
      pickByNumber("kind")(event, form);
      const picked = form.querySelector('input[name="kind"]:checked');
      if (picked) suggest(picked.value);
    },
    submit: (form) => submit({ kind: form.elements.kind.value, target: target.value.trim(),
      note: form.elements.note.value }),
  });
}

export function resolveDialog(submit) {
  show({
    testid: "resolve-form", title: t("dialog.resolve.title"),
    submitLabel: t("dialog.resolve.confirm"), finish: true,
    body: [radios("outcome", OUTCOMES, "outcome", { numbered: true }), noteField()],
    keys: pickByNumber("outcome"),
    submit: (form) => submit(form.elements.outcome.value, form.elements.note.value),
  });
}

export const SHORTCUTS = [
  ["c", "help.claim"], ["r", "help.resolve"], ["n", "help.note"], ["p", "help.call"],
  ["d", "help.dispatch"], ["i", "help.phone_in"], ["j / k · ↓ / ↑", "help.move"],
  ["m", "help.mute"],
  ["?", "help.help"], ["1 – 7", "help.outcome"], ["Esc", "help.close"],
];

export function helpDialog() {
  const el = dialog();
  el.replaceChildren(h("div", { testid: "shortcuts" },
    h("h2", {}, t("help.title")),
    h("table.shortcuts", {}, SHORTCUTS.map(([key, text]) =>
      h("tr", {}, h("td", {}, h("kbd", {}, key)), h("td", {}, t(text))))),
    h("p.muted", {}, t("help.typing")),
    h("div.dialog-buttons", {}, h("button.primary", { onclick: () => el.close(), autofocus: true },
      t("dialog.close")))));
  el.showModal();
}
