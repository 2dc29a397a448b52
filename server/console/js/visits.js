// 探访 Visits: made for a phone at the door. A visitor (grid worker, volunteer) sees their
// tasks, soonest first, taps one and records the visit: at home or not, who was met, what was
// found, a follow-up flag. The answer says what it set in motion (a follow-up task, a second
// attempt). Supervisors also make the month's plan, read compliance with the 100 % monthly
// target per community, street and tag, and chase the overdue list.
// Address: #/visits (tasks), #/visits/<task id> (recording one).

import { ApiError, request } from "./api.js";
import { h } from "./dom.js";
import { extend, label, t } from "./i18n.js";

const FINDINGS = ["health", "living", "mood", "safety", "needs"];
const FOLLOW_UPS = ["fell_recently", "unwell", "no_food", "device_not_worn", "safety_hazard",
  "low_mood", "needs_help"];
const KINDS = ["grid_worker", "volunteer", "property", "health_worker", "social_org", "staff"];
const PLANNERS = ["supervisor", "admin"];

extend({
  "zh-CN": {
    "tab.visits": "探访",
    "visits.mine": "探访任务",
    "visits.none": "暂无待办探访任务",
    "visits.due": "{date} 前",
    "visits.overdue_tag": "已逾期",
    "visits.kind.plan": "例行探访",
    "visits.kind.second_attempt": "再次上门",
    "visits.kind.follow_up": "跟进",
    "visits.kind.manual": "临时任务",
    "visits.priority.1": "紧急",
    "visits.priority.2": "尽快",
    "visits.priority.3": "例行",
    "visits.grid": "网格：{grid}",
    "visits.assignee": "负责：{name}",
    "visits.unassigned": "未分配",
    "visits.record": "登记探访",
    "visits.back": "返回任务列表",
    "visits.at_home": "老人在家",
    "visits.not_home": "不在家",
    "visits.met": "见到的人",
    "visits.met_hint": "本人、老伴、保姆、邻居…",
    "visits.f.health": "身体状况",
    "visits.f.living": "居住条件",
    "visits.f.mood": "精神状态",
    "visits.f.safety": "安全隐患",
    "visits.f.needs": "需求",
    "visits.follow_up": "需要跟进",
    "visits.follow_up_none": "无需跟进",
    "visits.follow_up_note": "跟进说明",
    "visits.visitor_kind": "探访人身份",
    "visits.submit": "提交",
    "visits.saved": "已登记探访",
    "visits.made_follow_up": "已生成跟进任务",
    "visits.made_second": "已安排再次上门：{date}",
    "visits.fu.fell_recently": "近期跌倒",
    "visits.fu.unwell": "身体不适",
    "visits.fu.no_food": "缺少食物",
    "visits.fu.device_not_worn": "未佩戴呼叫设备",
    "visits.fu.safety_hazard": "居家安全隐患",
    "visits.fu.low_mood": "情绪低落",
    "visits.fu.needs_help": "生活需要帮助",
    "visits.fu.not_reached": "两次上门未见到，请联系家属",
    "visits.fu.not_home": "上次不在家",
    "visits.fu.care_rules": "按照护规则",
    "visits.fu.call_concern": "关爱电话中发现情况",
    "visits.fu.calls_missed": "两次关爱电话无人接听",
    "visits.vk.grid_worker": "网格员",
    "visits.vk.volunteer": "志愿者",
    "visits.vk.property": "物业人员",
    "visits.vk.health_worker": "社区卫生人员",
    "visits.vk.social_org": "社会组织",
    "visits.vk.staff": "中心工作人员",
    "visits.plan": "生成本月探访计划",
    "visits.planned": "已新增 {n} 项探访任务",
    "visits.compliance": "探访完成率（{month}）",
    "visits.col.area": "区域",
    "visits.col.due": "应访",
    "visits.col.done": "已访",
    "visits.col.rate": "完成率",
    "visits.by_tag": "按照护类别",
    "visits.target": "目标 100%",
    "visits.overdue": "逾期未访",
    "visits.overdue_none": "没有逾期任务",
    "visits.not_home_count": "不在家 {n} 次",
    "visits.card": "上门探访",
    "visits.assigned": "已分配",
    "visits.card_none": "还没有探访记录",
  },
  en: {
    "tab.visits": "Visits",
    "visits.mine": "Visit tasks",
    "visits.none": "No visits to make",
    "visits.due": "by {date}",
    "visits.overdue_tag": "overdue",
    "visits.kind.plan": "regular visit",
    "visits.kind.second_attempt": "second attempt",
    "visits.kind.follow_up": "follow-up",
    "visits.kind.manual": "one-off",
    "visits.priority.1": "urgent",
    "visits.priority.2": "soon",
    "visits.priority.3": "routine",
    "visits.grid": "grid: {grid}",
    "visits.assignee": "assigned: {name}",
    "visits.unassigned": "unassigned",
    "visits.record": "Record the visit",
    "visits.back": "Back to the tasks",
    "visits.at_home": "At home",
    "visits.not_home": "Not at home",
    "visits.met": "Who was met",
    "visits.met_hint": "the elder, a spouse, a carer, a neighbour…",
    "visits.f.health": "Health",
    "visits.f.living": "Living conditions",
    "visits.f.mood": "Mood",
    "visits.f.safety": "Safety hazards",
    "visits.f.needs": "Needs",
    "visits.follow_up": "Follow-up needed",
    "visits.follow_up_none": "No follow-up",
    "visits.follow_up_note": "What should be done",
    "visits.visitor_kind": "Visiting as",
    "visits.submit": "Submit",
    "visits.saved": "Visit recorded",
    "visits.made_follow_up": "A follow-up task was made",
    "visits.made_second": "Second attempt scheduled: {date}",
    "visits.fu.fell_recently": "fell recently",
    "visits.fu.unwell": "unwell",
    "visits.fu.no_food": "no food at home",
    "visits.fu.device_not_worn": "alarm device not worn",
    "visits.fu.safety_hazard": "safety hazard at home",
    "visits.fu.low_mood": "low mood",
    "visits.fu.needs_help": "needs help with daily living",
    "visits.fu.not_reached": "not found at home twice: call the family",
    "visits.fu.not_home": "not at home last time",
    "visits.fu.care_rules": "care rules",
    "visits.fu.call_concern": "a concern raised on a care call",
    "visits.fu.calls_missed": "two care calls unanswered",
    "visits.vk.grid_worker": "grid worker",
    "visits.vk.volunteer": "volunteer",
    "visits.vk.property": "property staff",
    "visits.vk.health_worker": "community health worker",
    "visits.vk.social_org": "social organisation",
    "visits.vk.staff": "centre staff",
    "visits.plan": "Make this month's visit plan",
    "visits.planned": "{n} visit tasks added",
    "visits.compliance": "Visit rate ({month})",
    "visits.col.area": "Area",
    "visits.col.due": "Due",
    "visits.col.done": "Visited",
    "visits.col.rate": "Rate",
    "visits.by_tag": "By care category",
    "visits.target": "target 100 %",
    "visits.overdue": "Overdue",
    "visits.overdue_none": "Nothing overdue",
    "visits.not_home_count": "not at home {n}×",
    "visits.card": "Home visits",
    "visits.assigned": "Assigned",
    "visits.card_none": "No visits yet",
  },
});

const visitsApi = {
  tasks: (params = {}) => request("GET", `/api/visits/tasks?${new URLSearchParams(params)}`),
  visitors: () => request("GET", "/api/visits/visitors"),
  assign: (taskId, userId) => request("PUT", `/api/visits/tasks/${taskId}/assignee`, { user_id: userId }),
  record: (body) => request("POST", "/api/visits", body),
  plan: () => request("POST", "/api/visits/plan", {}),
  compliance: () => request("GET", "/api/visits/compliance"),
  ofResident: (id) => request("GET", `/api/residents/${id}/visits`),
};

export { visitsApi };

const today = () => new Date().toISOString().slice(0, 10);
const pct = (rate) => (rate === null ? "–" : `${Math.round(rate * 1000) / 10}%`);

export class VisitsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
  }

  reset() {
    this.tasks = [];
    this.tags = new Set();
    this.people = [];
    this.taskId = null;
    this.result = null;
    this.root.replaceChildren();
  }

  get planner() {
    return PLANNERS.includes(this.ctx.me()?.role);
  }

  translate() {
    this.render();
  }

  async enter(path) {
    this.taskId = Number(path) || null;
    await this.load();
  }

  async load() {
    try {
      const [tasks, compliance, overdue, people] = await Promise.all([
        visitsApi.tasks(), this.planner ? visitsApi.compliance() : null,
        this.planner ? visitsApi.tasks({ overdue: "true" }) : null,
        this.planner ? visitsApi.visitors() : []]);
      Object.assign(this, { tasks, compliance, overdue, people });
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      return;
    }
    this.render();
  }

  render() {
    const task = this.taskId && this.tasks.find((x) => x.id === this.taskId);
    if (task) {
      this.root.replaceChildren(h("div.visits-page", {}, this.form(task)));
      return;
    }
    this.root.replaceChildren(h("div.visits-page", {},
      this.result ? h("p.visit-result", { testid: "visit-result", role: "status" }, this.result) : null,
      h("h2", {}, t("visits.mine")),
      this.chips(),
      this.shown().length ? h("ol.visit-tasks", { testid: "visit-tasks" }, this.shown().map((x) => this.card(x)))
        : h("p.empty", { testid: "visit-none" }, t("visits.none")),
      this.planner ? this.plannerPart() : null));
  }

  /** The tasks whose resident carries every ticked care tag. */
  shown() {
    return this.tasks.filter((x) => [...this.tags].every((tag) => x.care_tags.includes(tag)));
  }

  /** A chip per care tag among the tasks, with how many tasks it has; ticked ones filter. */
  chips() {
    const counts = new Map();
    for (const x of this.tasks) for (const tag of x.care_tags) counts.set(tag, (counts.get(tag) || 0) + 1);
    if (!counts.size) return null;
    return h("div.chips", { testid: "visit-chips" }, [...counts].map(([tag, n]) => h("button.chip", {
      type: "button", testid: `visit-chip-${tag}`, class: this.tags.has(tag) ? "on" : "",
      onclick: () => { if (this.tags.has(tag)) this.tags.delete(tag); else this.tags.add(tag); this.render(); } },
    label("tag", tag), h("span.count", {}, String(n)))));
  }

  /** A planner's select giving the task to someone of its region. */
  assignSelect(task) {
    if (!this.planner || !this.people.length) return null;
    const select = h("select.assign", { testid: "visit-assign", onclick: (e) => e.stopPropagation(),
      onchange: async () => {
        try {
          await visitsApi.assign(task.id, select.value ? Number(select.value) : null);
          this.ctx.toast(t("visits.assigned"), "ok");
        } catch (exc) {
          if (exc instanceof ApiError) this.ctx.toast(exc.explain(), "error");
        }
        this.load();
      } },
    h("option", { value: "" }, t("visits.unassigned")),
    this.people.map((p) => h("option", { value: p.id, selected: p.id === task.assignee_id },
      `${p.name}（${label("role", p.role)}）`)));
    return select;
  }

  card(task) {
    const late = task.due_on < today();
    return h("li.visit-task", { testid: "visit-task", dataset: { taskId: task.id, kind: task.kind },
      class: `p${task.priority}`, onclick: () => this.ctx.go(`#/visits/${task.id}`) },
    h("div.r1", {}, h("b", {}, task.resident),
      h("span.tag", {}, t(`visits.kind.${task.kind}`)),
      task.priority < 3 ? h("span.tag.urgent", {}, t(`visits.priority.${task.priority}`)) : null,
      h("span.grow"),
      h("span", { class: late ? "late" : "muted" }, late ? t("visits.overdue_tag")
        : t("visits.due", { date: task.due_on }))),
    h("div.r2.muted", {}, task.address, task.grid ? ` · ${t("visits.grid", { grid: task.grid })}` : "",
      !this.planner && task.assignee ? ` · ${t("visits.assignee", { name: task.assignee })}` : ""),
    this.assignSelect(task),
    task.reason && task.kind !== "plan" ? h("div.r3", {}, t(`visits.fu.${task.reason}`),
      task.note ? ` — ${task.note}` : "") : null);
  }

  form(task) {
    const field = (name) => h("label.block", {}, h("span", {}, t(`visits.f.${name}`)),
      h("textarea", { name, rows: 2, testid: `visit-${name}` }));
    const radio = (value, key) => h("label.big-choice", {},
      h("input", { type: "radio", name: "at_home", value, required: true, testid: `visit-${key}` }),
      h("span", {}, t(`visits.${key}`)));
    const form = h("form.visit-form", { testid: "visit-form" },
      h("button.link", { type: "button", testid: "visit-back", onclick: () => this.ctx.go("#/visits") },
        `← ${t("visits.back")}`),
      h("h2", {}, task.resident),
      h("p.muted", {}, task.address, task.grid ? ` · ${t("visits.grid", { grid: task.grid })}` : "",
        h("br"), t(`visits.kind.${task.kind}`), " · ", t("visits.due", { date: task.due_on })),
      h("div.big-choices", {}, radio("yes", "at_home"), radio("no", "not_home")),
      h("label.block", {}, h("span", {}, t("visits.met")),
        h("input", { name: "met", placeholder: t("visits.met_hint"), testid: "visit-met", maxlength: 200 })),
      ...FINDINGS.map(field),
      h("label.block", {}, h("span", {}, t("visits.follow_up")),
        h("select", { name: "follow_up", testid: "visit-follow-up" },
          h("option", { value: "" }, t("visits.follow_up_none")),
          FOLLOW_UPS.map((fu) => h("option", { value: fu }, t(`visits.fu.${fu}`))))),
      h("label.block", {}, h("span", {}, t("visits.follow_up_note")),
        h("textarea", { name: "follow_up_note", rows: 2, testid: "visit-follow-up-note" })),
      h("label.block", {}, h("span", {}, t("visits.visitor_kind")),
        h("select", { name: "visitor_kind", testid: "visit-kind" },
          KINDS.map((k) => h("option", { value: k, selected: k === this.defaultKind() }, t(`visits.vk.${k}`))))),
      h("p.error", { testid: "visit-error", role: "alert", hidden: true }),
      h("button.primary.big", { type: "submit", testid: "visit-submit" }, t("visits.submit")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit(task, form);
    });
    return form;
  }

  defaultKind() {
    return this.ctx.me()?.role === "visitor" ? "grid_worker" : "staff";
  }

  async submit(task, form) {
    const f = form.elements;
    const body = { resident_id: task.resident_id, task_id: task.id,
      at_home: f.at_home.value === "yes", met: f.met.value.trim(),
      follow_up: f.follow_up.value || null, follow_up_note: f.follow_up_note.value.trim(),
      visitor_kind: f.visitor_kind.value };
    for (const name of FINDINGS) body[name] = f[name].value.trim();
    const error = form.querySelector("[data-testid=visit-error]");
    const button = form.querySelector("[data-testid=visit-submit]");
    button.disabled = true;
    try {
      const made = await visitsApi.record(body);
      const tasks = await visitsApi.tasks();
      const second = tasks.find((x) => x.id === made.second_attempt_task);
      this.result = [t("visits.saved"),
        made.follow_up_task ? t("visits.made_follow_up") : null,
        second ? t("visits.made_second", { date: second.due_on }) : null].filter(Boolean).join("；");
      this.ctx.toast(t("visits.saved"), "ok");
      this.ctx.go("#/visits");
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.explain() : String(exc.message || exc);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  plannerPart() {
    const c = this.compliance;
    const row = (name, share, testid) => h("tr", { testid }, h("td", {}, name),
      h("td.num", {}, String(share.due)), h("td.num", {}, String(share.done)),
      h("td.num", { class: share.rate !== null && share.rate < 1 ? "short" : "" }, pct(share.rate)));
    const head = h("thead", {}, h("tr", {}, ["area", "due", "done", "rate"].map((k) =>
      h("th", {}, t(`visits.col.${k}`)))));
    return h("div.visit-planner", {},
      h("button", { type: "button", testid: "visit-plan", onclick: async () => {
        const { added } = await visitsApi.plan();
        this.ctx.toast(t("visits.planned", { n: added }), "ok");
        this.load();
      } }, t("visits.plan")),
      c ? h("section.card", { testid: "visit-compliance" },
        h("h3", {}, t("visits.compliance", { month: c.month }), " ",
          h("span.muted", {}, t("visits.target"), " · ", t("visits.not_home_count", { n: c.not_home }))),
        h("table.visit-rates", {}, head, h("tbody", {},
          row("∑", c.total, "visit-rate-total"),
          c.regions.map((r) => row(`${r.name}（${r.level}）`, r, "visit-rate-region")))),
        h("h4", {}, t("visits.by_tag")),
        h("table.visit-rates", {}, head.cloneNode(true), h("tbody", {},
          Object.entries(c.tags).map(([tag, share]) => row(label("tag", tag), share, "visit-rate-tag"))))) : null,
      h("section.card", { testid: "visit-overdue" }, h("h3", {}, t("visits.overdue")),
        this.overdue?.length ? h("ol.visit-tasks", {}, this.overdue.map((x) => this.card(x)))
          : h("p.empty", {}, t("visits.overdue_none"))));
  }
}

/** A resident page's card: their visits, newest first, and their open visit tasks. */
export function residentVisitsCard(data) {
  if (!data) return null;
  const open = data.tasks.filter((x) => x.status === "open");
  const found = (v) => FINDINGS.filter((k) => v[k]).map((k) => `${t(`visits.f.${k}`)}：${v[k]}`).join("；");
  return h("section.card.res-visits", { testid: "res-visits" }, h("h3", {}, t("visits.card")),
    open.length ? h("p.muted", { testid: "res-visit-open" }, open.map((x) =>
      `${t(`visits.kind.${x.kind}`)} ${t("visits.due", { date: x.due_on })}`).join("；")) : null,
    data.visits.length ? h("ol.res-visit-list", {}, data.visits.slice(0, 10).map((v) => h("li",
      { testid: "res-visit" },
      h("div", {}, h("b", {}, v.arrived_at.slice(0, 10)), " ", v.visitor, "（", t(`visits.vk.${v.visitor_kind}`), "）",
        " · ", t(v.at_home ? "visits.at_home" : "visits.not_home"),
        v.follow_up ? h("span.tag.urgent", {}, t(`visits.fu.${v.follow_up}`)) : null),
      found(v) ? h("div.muted", {}, found(v)) : null)))
      : h("p.empty", {}, t("visits.card_none")));
}
