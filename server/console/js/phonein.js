// "Phone-in": an operator opens an alert for an inbound call (the resident's landline, the 12349
// hotline). From the header button, the `i` key, or a resident's page. Find the resident the
// way callers give them (a name, its pinyin initials, their own or a relative's number), say
// who called and why, pick a priority (1–3), Ctrl+Enter: the alert is open, claimed by the
// operator unless they untick it, and shown in the queue.

import { show } from "./dialogs.js";
import { fmtFull, h } from "./dom.js";
import { label, t } from "./i18n.js";
import { directoryApi } from "./residents/api.js";
import "./residents/strings.js";

export const PHONE_IN_ROLES = ["operator", "supervisor", "admin"];
const CHANNELS = ["landline", "hotline_12349", "other"];
const PRIORITIES = ["P1", "P2", "P3"];

/** One line about a resident: name, address, status when not at home. */
export function residentLine(r) {
  const away = awayText(r);
  return [r.name, r.address, away].filter(Boolean).join(" · ");
}

/** "away until 05-03 18:00" / "in hospital" / "moved"…; "" when at home. */
export function awayText(r, status = r.status, until = r.away_until) {
  if (!status || status === "active") return "";
  if (until && status === "away") return t("res.away_until", { until: fmtFull(until) });
  if (until && status === "in_hospital") return t("res.hospital_until", { until: fmtFull(until) });
  return label("status", status);
}

function picker(preset) {
  const results = h("select", { name: "resident", size: 4, testid: "phonein-results" });
  const search = h("input", { type: "search", name: "find", testid: "phonein-find",
    placeholder: t("res.search"), autocomplete: "off", autofocus: !preset });
  const none = h("input", { type: "checkbox", name: "unknown", testid: "phonein-unknown" });
  const fill = (rows) => {
    results.replaceChildren(...rows.map((r) => h("option", { value: r.id, testid: "phonein-option" },
      residentLine(r))));
    if (rows.length === 1 || preset) results.selectedIndex = 0;
  };
  if (preset) fill([preset]);
  let timer = null;
  let asked = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = search.value.trim();
      const mine = ++asked;
      const rows = q ? await directoryApi.search(q).catch(() => []) : [];
      if (mine === asked) fill(rows);
    }, 250);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && results.options.length) {
      event.preventDefault();
      results.focus();
      if (results.selectedIndex < 0) results.selectedIndex = 0;
    }
  });
  none.addEventListener("change", () => { results.disabled = none.checked; });
  return h("fieldset", {}, h("legend", {}, t("phonein.find")), search, results,
    h("label.choice.inline", {}, none, h("span", {}, t("phonein.none"))));
}

function field(name, key, attrs = {}) {
  return h("label.block", {}, h("span", {}, t(key)),
    h("input", { name, testid: `phonein-${name}`, ...attrs }));
}

/** The dialog; ``preset``: a resident listing (from their page) to open it for. */
export function phoneInDialog(ctx, preset = null) {
  const priorities = h("div.choices.three", { role: "radiogroup" }, PRIORITIES.map((p, i) =>
    h("label.choice", {}, h("input", { type: "radio", name: "priority", value: p, required: true,
      checked: p === "P2", testid: `phonein-priority-${p}` }), h("kbd", {}, String(i + 1)),
    h("span", {}, label("priority", p)))));
  const channels = h("select", { name: "channel", testid: "phonein-channel" },
    CHANNELS.map((c) => h("option", { value: c }, t(`channel.${c}`))));
  show({
    testid: "phonein-form", title: t("phonein.title"), submitLabel: t("phonein.confirm"),
    body: [
      picker(preset),
      h("div.form-row", {},
        field("caller", "phonein.caller", { required: true, maxlength: 80,
          autofocus: Boolean(preset) }),
        field("caller_phone", "phonein.caller_phone", { maxlength: 40 }),
        field("relation", "phonein.relation", { maxlength: 40 })),
      h("label.block", {}, h("span", {}, t("phonein.channel")), channels),
      h("label.block", {}, h("span", {}, t("phonein.reason")),
        h("textarea", { name: "reason", rows: 3, required: true, maxlength: 2000,
          testid: "phonein-reason" })),
      h("fieldset", {}, h("legend", {}, t("phonein.priority")), priorities),
      h("label.choice.inline", {}, h("input", { type: "checkbox", name: "take", checked: true,
        testid: "phonein-take" }), h("span", {}, t("phonein.take"))),
    ],
    keys: (event, form) => {
      const n = Number(event.key);
      if (n >= 1 && n <= PRIORITIES.length && event.target.type !== "checkbox") {
        event.preventDefault();
        form.elements.priority[n - 1].checked = true;
      }
    },
    submit: async (form) => {
      const f = form.elements;
      const residentId = f.unknown.checked ? null : Number(f.resident.value) || null;
      if (!residentId && !f.unknown.checked) throw new Error(t("phonein.pick_first"));
      const alert = await directoryApi.phoneIn({
        resident_id: residentId, caller: f.caller.value.trim(),
        caller_phone: f.caller_phone.value.trim(), relation: f.relation.value.trim(),
        channel: f.channel.value, reason: f.reason.value.trim(),
        priority: f.priority.value, take: f.take.checked,
      });
      ctx.toast(t(alert.opened ? "phonein.opened" : "phonein.attached"), "ok");
      ctx.merged(alert);
      ctx.go(`#/queue/${alert.id}`);
    },
  });
}
