// Care tags at work: the filter chips above the resident list (each with its count in the
// user's regions; ticked chips narrow the list to residents with all of them), a resident's
// care plan (visits, care calls, alarm priority, from the rules), and the rule table — read by
// everyone, edited by admins (add, change, remove), with its history of changes.

import { show } from "../dialogs.js";
import { fmtDateTime, h } from "../dom.js";
import { extend, label, t } from "../i18n.js";
import { directoryApi as api } from "./api.js";

extend({
  "zh-CN": {
    "care.total": "共 {n} 人",
    "care.plan": "照护计划",
    "care.visits": "上门探访",
    "care.calls": "关爱电话",
    "care.priority": "报警级别",
    "care.every_visit": "每 {n} 天一次",
    "care.every_call": "每 {n} 天一次",
    "care.none": "无（规则未要求）",
    "care.raised": "普通报警升为紧急（P2→P1）",
    "care.as_is": "按报警类型",
    "care.raised_short": "升为 P1",
    "care.from_rules": "按 {n} 条照护规则得出",
    "care.rules": "照护规则",
    "care.explain": "老人带有规则中的全部标签时适用该规则；多条规则适用时取最短的探访和电话间隔，任一规则要求升级即升级。30 天即每月一次。",
    "care.tags": "标签",
    "care.note": "说明",
    "care.edit": "修改",
    "care.remove": "删除",
    "care.remove_confirm": "删除规则 {tags}？（修改记录保留）",
    "care.add": "新增规则",
    "care.edit_title": "修改照护规则",
    "care.close": "关闭",
    "care.visit_days": "探访间隔（天）",
    "care.call_days": "电话间隔（天）",
    "care.raise": "普通报警升为紧急",
    "care.history": "修改记录",
    "care.action.create": "新增",
    "care.action.update": "修改",
    "care.action.delete": "删除",
  },
  en: {
    "care.total": "{n} in all",
    "care.plan": "Care plan",
    "care.visits": "Home visits",
    "care.calls": "Care calls",
    "care.priority": "Alarm priority",
    "care.every_visit": "every {n} days",
    "care.every_call": "every {n} days",
    "care.none": "none (no rule asks for it)",
    "care.raised": "P2 alarms raised to P1",
    "care.as_is": "as the alarm type says",
    "care.raised_short": "to P1",
    "care.from_rules": "from {n} care rules",
    "care.rules": "Care rules",
    "care.explain": "A rule applies to a resident with every one of its tags. Where several apply, the shortest visit and call intervals win, and any raise raises. 30 days is once a month.",
    "care.tags": "Tags",
    "care.note": "Note",
    "care.edit": "Edit",
    "care.remove": "Remove",
    "care.remove_confirm": "Remove the rule {tags}? (Its history is kept.)",
    "care.add": "Add a rule",
    "care.edit_title": "Edit a care rule",
    "care.close": "Close",
    "care.visit_days": "Visit every (days)",
    "care.call_days": "Call every (days)",
    "care.raise": "Raise P2 alarms to P1",
    "care.history": "Changes",
    "care.action.create": "added",
    "care.action.update": "changed",
    "care.action.delete": "removed",
  },
});

/** The chips: ``selected`` (a Set of tags) is changed in place; ``onchange()`` after a click. */
export function tagChips(vocab, counts, selected, onchange) {
  const chip = (tag) => {
    const n = counts?.tags?.[tag] ?? 0;
    return h("button.chip", { type: "button", testid: `res-chip-${tag}`,
      class: selected.has(tag) ? "on" : "", "aria-pressed": String(selected.has(tag)),
      onclick: () => {
        if (selected.has(tag)) selected.delete(tag); else selected.add(tag);
        onchange();
      } }, label("tag", tag), h("span.count", {}, String(n)));
  };
  return h("div.chips", { testid: "res-chips" },
    h("span.muted.total", { testid: "res-total" }, t("care.total", { n: counts?.total ?? 0 })),
    ...(vocab?.care_tags || []).map(chip));
}

const every = (days, unit) => (days ? t(`care.every_${unit}`, { n: days }) : t("care.none"));

/** The resident's plan as a card. */
export function planCard(plan) {
  if (!plan) return null;
  return h("section.card.care-plan", { testid: "res-care-plan" }, h("h3", {}, t("care.plan")),
    h("dl.facts", {},
      h("dt", {}, t("care.visits")), h("dd", { testid: "plan-visits" }, every(plan.visit_every_days, "visit")),
      h("dt", {}, t("care.calls")), h("dd", { testid: "plan-calls" }, every(plan.call_every_days, "call")),
      h("dt", {}, t("care.priority")), h("dd", { testid: "plan-priority",
        class: plan.raise_priority ? "warn" : "" }, t(plan.raise_priority ? "care.raised" : "care.as_is"))),
    h("p.muted.small", {}, t("care.from_rules", { n: plan.rules.length })));
}

function ruleRow(rule, admin, reopen, vocab) {
  const edit = () => ruleDialog(rule, reopen, vocab);
  const remove = async () => {
    if (!window.confirm(t("care.remove_confirm", { tags: tagsText(rule.tags) }))) return;
    await api.deleteRule(rule.id);
    reopen();
  };
  return h("tr", { testid: "care-rule", dataset: { ruleId: rule.id } },
    h("td", {}, tagsText(rule.tags)),
    h("td", {}, rule.visit_every_days ? every(rule.visit_every_days, "visit") : "–"),
    h("td", {}, rule.call_every_days ? every(rule.call_every_days, "call") : "–"),
    h("td", {}, rule.raise_priority ? t("care.raised_short") : "–"),
    h("td.muted", {}, rule.note),
    h("td", {}, admin ? [
      h("button.small", { type: "button", testid: "care-rule-edit", onclick: edit }, t("care.edit")),
      h("button.small", { type: "button", testid: "care-rule-remove", onclick: remove }, t("care.remove")),
    ] : null));
}

const tagsText = (tags) => tags.map((tag) => label("tag", tag)).join(" + ");

/** The rule table (and, for those who may read it, the history of its changes). */
export async function rulesDialog(ctx, vocab) {
  const admin = ctx.me()?.role === "admin";
  const reopen = () => rulesDialog(ctx, vocab);
  const rules = await api.rules();
  const history = ["admin", "supervisor", "auditor"].includes(ctx.me()?.role)
    ? await api.rulesHistory().catch(() => []) : [];
  show({
    testid: "care-rules", title: t("care.rules"), submitLabel: t("care.close"),
    body: [
      h("p.muted", {}, t("care.explain")),
      h("table.care-rules", {}, h("thead", {}, h("tr", {},
        ...["care.tags", "care.visits", "care.calls", "care.priority", "care.note", ""].map(
          (key) => h("th", {}, key ? t(key) : "")))),
      h("tbody", {}, rules.map((r) => ruleRow(r, admin, reopen, vocab)))),
      admin ? h("button", { type: "button", testid: "care-rule-add",
        onclick: () => ruleDialog(null, reopen, vocab) }, t("care.add")) : null,
      history.length ? h("details.care-history", { testid: "care-history" },
        h("summary", {}, t("care.history")),
        h("ol", {}, history.slice(0, 20).map((e) => h("li", {},
          `${fmtDateTime(e.ts)} ${e.actor} · ${t(`care.action.${e.action}`)} · `,
          Object.entries(e.changes).map(([k, [a, b]]) => `${k}: ${fmt(a)} → ${fmt(b)}`).join("；"))))) : null,
    ],
    submit: async () => {},
  });
}

const fmt = (v) => (Array.isArray(v) ? v.join("+") : v ?? "–");

/** Add (``rule`` null) or change a rule; ``done()`` reopens the table. */
function ruleDialog(rule, done, vocab) {
  const tags = new Set(rule?.tags || []);
  const number = (name, value) => h("input", { type: "number", min: 1, max: 366, name,
    value: value ?? "", testid: `f-${name}` });
  show({
    testid: "care-rule-form", title: rule ? t("care.edit_title") : t("care.add"),
    body: [
      h("fieldset", {}, h("legend", {}, t("care.tags")), h("div.choices.tags", {},
        vocab.care_tags.map((tag) => h("label.choice", {},
          h("input", { type: "checkbox", name: "tags", value: tag, checked: tags.has(tag),
            testid: `f-rule-tag-${tag}` }), h("span", {}, label("tag", tag)))))),
      h("div.form-row", {},
        h("label.block", {}, h("span", {}, t("care.visit_days")), number("visit_every_days", rule?.visit_every_days)),
        h("label.block", {}, h("span", {}, t("care.call_days")), number("call_every_days", rule?.call_every_days))),
      h("label.choice", {}, h("input", { type: "checkbox", name: "raise_priority",
        checked: !!rule?.raise_priority, testid: "f-raise_priority" }), h("span", {}, t("care.raise"))),
      h("label.block", {}, h("span", {}, t("care.note")),
        h("input", { name: "note", value: rule?.note || "", maxlength: 200, testid: "f-note" })),
    ],
    submit: async (form) => {
      const f = form.elements;
      const days = (el) => (el.value ? Number(el.value) : null);
      const body = {
        tags: [...form.querySelectorAll("input[name=tags]:checked")].map((el) => el.value),
        visit_every_days: days(f.visit_every_days), call_every_days: days(f.call_every_days),
        raise_priority: f.raise_priority.checked, note: f.note.value.trim(),
      };
      if (rule) await api.editRule(rule.id, body); else await api.addRule(body);
      setTimeout(done);
    },
  });
}
