// 主动关爱 Care calls: the operator's list of calls due today, soonest first and the riskiest
// first among equals; a call's outcome in one click (answered and well, answered with a
// concern, no answer) with notes and the next call; the answer says what it started (a visit
// task, a retry, a welfare-check alert). Supervisors start a campaign for a community or a
// care tag (a heat or cold warning, a holiday).

import { ApiError, request } from "./api.js";
import { show } from "./dialogs.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, label, t } from "./i18n.js";

const PLANNERS = ["supervisor", "admin"];
const REASONS = ["heat", "cold", "holiday", "epidemic", "other"];

extend({
  "zh-CN": {
    "tab.carecalls": "关爱电话",
    "cc.title": "今日关爱电话",
    "cc.none": "今天没有要打的关爱电话",
    "cc.kind.schedule": "定期",
    "cc.kind.after_hospital": "出院后每日",
    "cc.kind.campaign": "专项",
    "cc.kind.retry": "重拨",
    "cc.kind.next": "约定回访",
    "cc.last": "上次：{outcome} {time}",
    "cc.outcome.well": "接通，平安",
    "cc.outcome.concern": "接通，有情况",
    "cc.outcome.no_answer": "无人接听",
    "cc.notes": "通话记录",
    "cc.concern": "发现的情况",
    "cc.next_on": "下次回访日期（可不填）",
    "cc.record_title": "关爱电话：{name}",
    "cc.saved": "已记录",
    "cc.made_visit": "已生成上门探访任务",
    "cc.made_retry": "稍后重拨",
    "cc.made_alert": "已生成关爱报警，进入接警队列",
    "cc.campaign": "发起专项关爱",
    "cc.campaign_name": "名称",
    "cc.campaign_reason": "原因",
    "cc.reason.heat": "高温",
    "cc.reason.cold": "寒潮",
    "cc.reason.holiday": "节日",
    "cc.reason.epidemic": "疫情",
    "cc.reason.other": "其他",
    "cc.campaign_tags": "只包括这些照护类别（可不选）",
    "cc.campaign_started": "已为 {n} 位老人安排专项关爱电话",
    "cc.phone": "电话",
    "cc.card": "关爱电话",
    "cc.card_none": "还没有关爱电话记录",
  },
  en: {
    "tab.carecalls": "Care calls",
    "cc.title": "Care calls due today",
    "cc.none": "No care calls to make today",
    "cc.kind.schedule": "regular",
    "cc.kind.after_hospital": "daily after hospital",
    "cc.kind.campaign": "campaign",
    "cc.kind.retry": "retry",
    "cc.kind.next": "agreed call-back",
    "cc.last": "last: {outcome} {time}",
    "cc.outcome.well": "Answered, all well",
    "cc.outcome.concern": "Answered, a concern",
    "cc.outcome.no_answer": "No answer",
    "cc.notes": "Notes",
    "cc.concern": "The concern",
    "cc.next_on": "Next call (optional)",
    "cc.record_title": "Care call: {name}",
    "cc.saved": "Recorded",
    "cc.made_visit": "a home visit task was made",
    "cc.made_retry": "call again later",
    "cc.made_alert": "a welfare-check alert is in the queue",
    "cc.campaign": "Start a campaign",
    "cc.campaign_name": "Name",
    "cc.campaign_reason": "Reason",
    "cc.reason.heat": "heat",
    "cc.reason.cold": "cold spell",
    "cc.reason.holiday": "holiday",
    "cc.reason.epidemic": "epidemic",
    "cc.reason.other": "other",
    "cc.campaign_tags": "Only these care categories (optional)",
    "cc.campaign_started": "Campaign calls for {n} residents",
    "cc.phone": "Phone",
    "cc.card": "Care calls",
    "cc.card_none": "No care calls yet",
  },
});

const ccApi = {
  list: () => request("GET", "/api/care-calls"),
  record: (body) => request("POST", "/api/care-calls", body),
  campaign: (body) => request("POST", "/api/care-calls/campaigns", body),
  vocabulary: () => request("GET", "/api/directory/vocabulary"),
};

export class CareCallsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
  }

  reset() {
    this.calls = [];
    this.tags = new Set();
    this.loaded = false;
    this.root.replaceChildren();
  }

  translate() {
    if (this.loaded) this.render();
  }

  async enter() {
    await this.load();
  }

  async load() {
    try {
      this.calls = await ccApi.list();
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      return;
    }
    this.loaded = true;
    this.render();
  }

  render() {
    const planner = PLANNERS.includes(this.ctx.me()?.role);
    this.root.replaceChildren(h("div.cc-page", {},
      h("div.row", {}, h("h2", {}, t("cc.title")), h("span.grow"),
        planner ? h("button", { type: "button", testid: "cc-campaign",
          onclick: () => this.campaign() }, t("cc.campaign")) : null),
      this.chips(),
      this.shown().length ? h("ol.cc-list", { testid: "cc-list" }, this.shown().map((c) => this.row(c)))
        : h("p.empty", { testid: "cc-none" }, t("cc.none"))));
  }

  /** The calls to residents with every ticked care tag. */
  shown() {
    return this.calls.filter((c) => [...this.tags].every((tag) => c.care_tags.includes(tag)));
  }

  /** A chip per care tag among the calls, with how many; ticked ones filter the list. */
  chips() {
    const counts = new Map();
    for (const c of this.calls) for (const tag of c.care_tags) counts.set(tag, (counts.get(tag) || 0) + 1);
    if (!counts.size) return null;
    return h("div.chips", { testid: "cc-chips" }, [...counts].map(([tag, n]) => h("button.chip", {
      type: "button", testid: `cc-chip-${tag}`, class: this.tags.has(tag) ? "on" : "",
      onclick: () => { if (this.tags.has(tag)) this.tags.delete(tag); else this.tags.add(tag); this.render(); } },
    label("tag", tag), h("span.count", {}, String(n)))));
  }

  row(c) {
    const outcome = (key, cls = "") => h(`button.small${cls}`, { type: "button",
      testid: `cc-${key}`, onclick: () => this.record(c, key) }, t(`cc.outcome.${key}`));
    return h("li.cc-row", { testid: "cc-row", dataset: { taskId: c.id, residentId: c.resident_id } },
      h("div.r1", {}, h("a.name", { href: `#/residents/${c.resident_id}` }, c.resident),
        ...c.care_tags.map((tag) => h("span.tag", {}, label("tag", tag))),
        h("span.tag.kind", {}, c.campaign || t(`cc.kind.${c.kind}`)),
        h("span.grow"), h("span.phone", { testid: "cc-phone" }, c.phone || "–")),
      h("div.r2.muted", {}, c.address,
        c.last_outcome ? ` · ${t("cc.last", { outcome: t(`cc.outcome.${c.last_outcome}`),
          time: fmtDateTime(c.last_called_at) })}` : ""),
      h("div.actions", {}, outcome("well", ".primary"), outcome("concern"), outcome("no_answer")));
  }

  record(c, outcome) {
    show({
      testid: "cc-record", title: t("cc.record_title", { name: c.resident }),
      submitLabel: t(`cc.outcome.${outcome}`),
      body: [
        outcome === "concern" ? h("label.block", {}, h("span", {}, t("cc.concern")),
          h("textarea", { name: "concern", rows: 2, required: true, testid: "cc-f-concern" })) : null,
        h("label.block", {}, h("span", {}, t("cc.notes")),
          h("textarea", { name: "notes", rows: 2, testid: "cc-f-notes" })),
        outcome !== "no_answer" ? h("label.block", {}, h("span", {}, t("cc.next_on")),
          h("input", { type: "date", name: "next_on", testid: "cc-f-next" })) : null,
      ],
      submit: async (form) => {
        const f = form.elements;
        const made = await ccApi.record({ resident_id: c.resident_id, task_id: c.id, outcome,
          notes: f.notes.value.trim(), concern: f.concern?.value.trim() || "",
          next_on: f.next_on?.value || null });
        const said = [t("cc.saved"), made.visit_task ? t("cc.made_visit") : null,
          made.retry_task ? t("cc.made_retry") : null,
          made.alert_id ? t("cc.made_alert") : null].filter(Boolean).join("；");
        this.ctx.toast(said, "ok");
        this.load();
      },
    });
  }

  async campaign() {
    const vocab = await ccApi.vocabulary();
    show({
      testid: "cc-campaign-form", title: t("cc.campaign"),
      body: [
        h("label.block", {}, h("span", {}, t("cc.campaign_name")),
          h("input", { name: "name", required: true, maxlength: 100, testid: "cc-f-name" })),
        h("label.block", {}, h("span", {}, t("cc.campaign_reason")),
          h("select", { name: "reason", testid: "cc-f-reason" },
            REASONS.map((r) => h("option", { value: r }, t(`cc.reason.${r}`))))),
        h("fieldset", {}, h("legend", {}, t("cc.campaign_tags")), h("div.choices.tags", {},
          vocab.care_tags.map((tag) => h("label.choice", {},
            h("input", { type: "checkbox", name: "tags", value: tag, testid: `cc-f-tag-${tag}` }),
            h("span", {}, label("tag", tag)))))),
      ],
      submit: async (form) => {
        const f = form.elements;
        const made = await ccApi.campaign({ name: f.name.value.trim(), reason: f.reason.value,
          tags: [...form.querySelectorAll("input[name=tags]:checked")].map((el) => el.value) });
        this.ctx.toast(t("cc.campaign_started", { n: made.residents }), "ok");
        this.load();
      },
    });
  }
}

export const careCallsOf = (id) => request("GET", `/api/residents/${id}/care-calls`);

/** A resident page's card: their care calls, newest first. */
export function residentCallsCard(calls) {
  if (!calls) return null;
  return h("section.card.res-carecalls", { testid: "res-carecalls" }, h("h3", {}, t("cc.card")),
    calls.length ? h("ol.res-visit-list", {}, calls.slice(0, 10).map((c) => h("li",
      { testid: "res-carecall" },
      h("div", {}, h("b", {}, fmtDateTime(c.called_at)), " ", c.caller, " · ",
        t(`cc.outcome.${c.outcome}`)),
      c.concern || c.notes ? h("div.muted", {}, [c.concern, c.notes].filter(Boolean).join("；")) : null)))
      : h("p.empty", {}, t("cc.card_none")));
}
