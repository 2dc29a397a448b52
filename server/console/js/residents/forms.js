// The directory's editor dialogs: a resident (new or edit), their home, a contact, the status
// (away until …, in hospital, moved, deceased), the own limits beside the defaults. Each
// sends only what changed; a refusal is shown in the dialog, which stays open.

import { show } from "../dialogs.js";
import { h } from "../dom.js";
import { label, t } from "../i18n.js";
import { directoryApi as api } from "./api.js";

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function input(name, key, value = "", attrs = {}) {
  return h("label.block", {}, h("span", {}, t(key)),
    h("input", { name, value: value ?? "", testid: `f-${name}`, ...attrs }));
}

function area(name, key, values = [], rows = 2) {
  return h("label.block", {}, h("span", {}, t(key)),
    h("textarea", { name, rows, testid: `f-${name}` }, (values || []).join("\n")));
}

/** "2024-05-03T10:00:00Z" → the value of a datetime-local input (local time). */
function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
}

function fromLocal(value) {
  return value ? new Date(value).toISOString() : null;
}

/** Only the fields whose value differs from ``before``. */
function changed(before, after) {
  return Object.fromEntries(Object.entries(after).filter(([k, v]) => !same(before?.[k], v)));
}

function residentFields(r, vocab) {
  const tags = h("div.choices.tags", {}, vocab.care_tags.map((tag) => h("label.choice", {},
    h("input", { type: "checkbox", name: "care_tags", value: tag,
      checked: (r?.care_tags || []).includes(tag), testid: `f-tag-${tag}` }),
    h("span", {}, label("tag", tag)))));
  const sex = h("select", { name: "sex", testid: "f-sex" }, ["", "F", "M"].map((v) =>
    h("option", { value: v, selected: (r?.sex || "") === v }, v ? t(`resident.sex.${v}`) : "–")));
  return [
    h("div.form-row", {}, input("name", "res.f.name", r?.name, { required: true, maxlength: 80 }),
      h("label.block", {}, h("span", {}, t("res.f.sex")), sex),
      input("birth_date", "res.f.birth_date", r?.birth_date, { type: "date" }),
      input("phone", "res.f.phone", r?.phone, { maxlength: 40 })),
    h("fieldset", {}, h("legend", {}, t("res.f.care_tags")), tags),
    h("div.form-row", {}, area("conditions", "res.f.conditions", r?.conditions),
      area("medications", "res.f.medications", r?.medications)),
    h("div.form-row", {}, area("allergies", "res.f.allergies", r?.allergies),
      area("languages", "res.f.languages", r?.languages)),
  ];
}

function residentBody(f) {
  return {
    name: f.name.value.trim(), sex: f.sex.value || null, birth_date: f.birth_date.value || null,
    phone: f.phone.value.trim() || null,
    care_tags: [...f.care_tags].filter((x) => x.checked).map((x) => x.value),
    conditions: lines(f.conditions.value), medications: lines(f.medications.value),
    allergies: lines(f.allergies.value), languages: lines(f.languages.value),
  };
}

/** Edit a resident's details; ``done()`` after saving. */
export function editResident(r, vocab, done) {
  show({
    testid: "resident-form", title: t("res.title.edit", { name: r.name }),
    body: residentFields(r, vocab),
    submit: async (form) => {
      const body = changed(r, residentBody(form.elements));
      if (Object.keys(body).length) await api.editResident(r.id, body);
      done();
    },
  });
}

/** A new resident, in a new home (address, community) or beside someone already listed. */
export function newResident(vocab, regions, done) {
  const communities = regions.filter((x) => x.level !== "区");
  show({
    testid: "resident-form", title: t("res.title.new"),
    body: [...residentFields(null, vocab),
      h("fieldset", {}, h("legend", {}, t("res.f.home")),
        h("div.form-row", {}, input("address", "res.f.address", "", { required: true,
          maxlength: 200 }),
        h("label.block", {}, h("span", {}, t("res.f.region")),
          h("select", { name: "region_id", testid: "f-region_id" }, communities.map((x) =>
            h("option", { value: x.id }, x.name))))),
        area("notes", "res.f.notes", [], 2))],
    submit: async (form) => {
      const f = form.elements;
      const home = await api.addHome({ region_id: Number(f.region_id.value),
        address: f.address.value.trim(), notes: f.notes.value.trim() });
      const body = residentBody(f);
      const created = await api.addResident({ ...Object.fromEntries(
        Object.entries(body).filter(([, v]) => v !== null)), home_id: home.id });
      done(created.id);
    },
  });
}

export function editHome(r, done) {
  const home = r.home;
  show({
    testid: "home-form", title: t("res.title.home"),
    body: [input("address", "res.f.address", home.address, { required: true, maxlength: 200 }),
      area("notes", "res.f.notes", home.notes ? [home.notes] : [], 3),
      input("key_safe_code", "res.f.key_safe", "", { maxlength: 40, autocomplete: "off" }),
      home.has_key_safe ? h("label.choice.inline", {}, h("input", { type: "checkbox",
        name: "clear_key", testid: "f-clear_key" }), h("span", {}, t("res.f.key_safe_clear")))
        : null],
    submit: async (form) => {
      const f = form.elements;
      const body = changed(home, { address: f.address.value.trim(), notes: f.notes.value.trim() });
      if (f.key_safe_code.value.trim()) body.key_safe_code = f.key_safe_code.value.trim();
      else if (f.clear_key?.checked) body.key_safe_code = null;
      if (Object.keys(body).length) await api.editHome(home.id, body);
      done();
    },
  });
}

/** Add (``c`` null) or edit a contact of resident ``r``; ``copy``: prefill from a contact. */
export function editContact(r, c, done, copy = null) {
  const from = c || copy;
  show({
    testid: "contact-form", title: t("res.title.contact"),
    body: [h("div.form-row", {},
      input("name", "res.f.name", from?.name, { required: true, maxlength: 80 }),
      input("relation", "res.f.relation", from?.relation, { maxlength: 40 })),
    area("phones", "res.f.phones", from?.phones, 2),
    input("availability", "res.f.availability", from?.availability, { maxlength: 200 }),
    h("label.choice.inline", {}, h("input", { type: "checkbox", name: "has_key",
      checked: Boolean(from?.has_key), testid: "f-has_key" }), h("span", {}, t("res.f.has_key")))],
    submit: async (form) => {
      const f = form.elements;
      const body = { name: f.name.value.trim(), relation: f.relation.value.trim(),
        phones: lines(f.phones.value), availability: f.availability.value.trim(),
        has_key: f.has_key.checked };
      if (c) {
        const diff = changed(c, body);
        if (Object.keys(diff).length) await api.editContact(c.id, diff);
      } else {
        await api.addContact({ ...body, resident_id: r.id });
      }
      done();
    },
  });
}

export function editStatus(r, vocab, done) {
  const statuses = h("div.choices", { role: "radiogroup" }, vocab.statuses.map((s) =>
    h("label.choice", {}, h("input", { type: "radio", name: "status", value: s, required: true,
      checked: s === r.status, testid: `f-status-${s}` }), h("span", {}, label("status", s)))));
  show({
    testid: "status-form", title: t("res.title.status", { name: r.name }),
    body: [h("p.muted.small", {}, t("res.status_hint")), statuses,
      h("div.form-row", {},
        input("since", "res.f.since", "", { type: "datetime-local" }),
        input("until", "res.f.until", localInput(r.away_until), { type: "datetime-local" })),
      input("note", "res.f.note", r.status_note, { maxlength: 200 })],
    submit: async (form) => {
      const f = form.elements;
      const status = f.status.value;
      const body = { status, note: f.note.value.trim() };
      if (f.since.value) body.since = fromLocal(f.since.value);
      if (["away", "in_hospital"].includes(status) && f.until.value) {
        body.until = fromLocal(f.until.value);
      }
      await api.setStatus(r.id, body);
      done();
    },
  });
}

function limitInputs(group, own, defaults) {
  return h("table.limits-edit", {}, Object.entries(defaults).map(([name, value]) => h("tr", {},
    h("td", {}, t(`lim.${name}`)),
    h("td", {}, h("input", { type: "number", step: "any", name: `${group}.${name}`,
      value: own?.[name] ?? "", placeholder: String(value), testid: `f-${group}-${name}` })),
    h("td.muted", {}, `${t("res.default")} ${value}`))));
}

export function editLimits(r, vocab, done) {
  const d = vocab.defaults;
  show({
    testid: "limits-form", title: t("res.title.limits", { name: r.name }),
    body: [h("p.muted.small", {}, t("res.limits_hint")),
      h("div.form-row.top", {}, limitInputs("vital", r.vital_limits, d.vital),
        limitInputs("inactivity", r.inactivity_rules, d.inactivity))],
    submit: async (form) => {
      const body = { vital: {}, inactivity: {} };
      for (const el of form.querySelectorAll("input[type=number]")) {
        const [group, name] = el.name.split(".");
        if (el.value !== "") body[group][name] = Number(el.value);
      }
      await api.setLimits(r.id, body);
      done();
    },
  });
}
