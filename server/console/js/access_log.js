// Access log (访问记录), for supervisors, admins and auditors: every read of a sensitive field
// (medical notes, contact phones, the key-safe code, a full record) and every export — who,
// when, why (the alert, or a reason), about whom — filtered by resident, user, field and day.
// Read only: the server refuses any change to it. Supervisors and admins also see the open
// "inform afterwards" tasks an emergency override left, and close them once the resident or
// their guardian was told.

import { api, ApiError } from "./api.js";
import { formDialog } from "./dialogs.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, t } from "./i18n.js";

const FIELDS = ["conditions", "medications", "allergies", "contacts.phones", "key_safe_code",
  "export", "erase"];

extend({
  "zh-CN": {
    "tab.access": "访问记录",
    "access.title": "敏感信息访问记录",
    "access.note": "记录每一次查看病史、用药、联系人电话、钥匙箱密码以及每一次导出；记录不可修改或删除，保存期满后由系统清理。",
    "access.resident": "长者编号",
    "access.user": "用户编号",
    "access.field": "字段",
    "access.any": "全部",
    "access.since": "起始日期",
    "access.until": "截止日期",
    "access.search": "查询",
    "access.time": "时间",
    "access.who": "查看人",
    "access.purpose": "用途",
    "access.residents": "长者",
    "access.fields": "字段",
    "access.none": "没有符合条件的记录",
    "access.more": "更早的记录",
    "access.p.alert": "处理告警 #{id}",
    "access.p.resident_page": "长者档案页",
    "access.p.export": "导出个人信息",
    "access.p.erasure": "删除个人信息",
    "access.p.emergency_override": "紧急越权查看（告警 #{id}）",
    "access.f.conditions": "疾病",
    "access.f.medications": "用药",
    "access.f.allergies": "过敏",
    "access.f.contacts.phones": "联系人电话",
    "access.f.key_safe_code": "钥匙箱密码",
    "access.f.export": "全部（导出）",
    "access.f.erase": "全部（删除）",
    "inform.title": "事后告知任务",
    "inform.note": "接警员紧急查看了老人未同意共享的信息；告知老人或监护人后关闭任务。",
    "inform.none": "没有待告知的任务",
    "inform.row": "{who} 于 {when} 查看长者 #{resident} 的家属电话（告警 #{alert}）",
    "inform.close": "已告知",
    "inform.close_title": "关闭事后告知任务",
    "inform.close_note": "告知情况",
    "inform.closed": "任务已关闭",
  },
  en: {
    "tab.access": "Access log",
    "access.title": "Access to sensitive data",
    "access.note": "Every read of medical notes, medication, contact phones, the key-safe code, and every export. Entries cannot be changed or deleted; they are removed once past the retention period.",
    "access.resident": "Resident id",
    "access.user": "User id",
    "access.field": "Field",
    "access.any": "Any",
    "access.since": "From",
    "access.until": "To",
    "access.search": "Search",
    "access.time": "Time",
    "access.who": "By",
    "access.purpose": "Purpose",
    "access.residents": "Residents",
    "access.fields": "Fields",
    "access.none": "No matching entries",
    "access.more": "Older entries",
    "access.p.alert": "Alert #{id}",
    "access.p.resident_page": "Resident page",
    "access.p.export": "Personal data export",
    "access.p.erasure": "Personal data erasure",
    "access.p.emergency_override": "Emergency override (alert #{id})",
    "access.f.conditions": "Conditions",
    "access.f.medications": "Medication",
    "access.f.allergies": "Allergies",
    "access.f.contacts.phones": "Contact phones",
    "access.f.key_safe_code": "Key-safe code",
    "access.f.export": "Everything (export)",
    "access.f.erase": "Everything (erasure)",
    "inform.title": "Inform afterwards",
    "inform.note": "An operator used an emergency override on data the resident has not consented to share; close the task once the resident or their guardian was told.",
    "inform.none": "Nobody to inform",
    "inform.row": "{who} saw the family phones of resident #{resident} on {when} (alert #{alert})",
    "inform.close": "Informed",
    "inform.close_title": "Close the task",
    "inform.close_note": "How they were told",
    "inform.closed": "Task closed",
  },
});

const PAGE = 100;

function purpose(row) {
  const key = `access.p.${row.purpose}`;
  const text = t(key, { id: row.alert_id ?? "" });
  return text === key ? row.purpose : text;
}

function field(name) {
  const key = `access.f.${name}`;
  const text = t(key);
  return text === key ? name : text;
}

export class AccessLogView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
  }

  reset() {
    this.tasks = null;
    this.rows = null;
    this.more = false;
    this.filters = {};
    this.error = "";
  }

  translate() {
    this.render();
  }

  enter() {
    this.render();
    this.load();
    this.loadTasks();
  }

  params() {
    const f = this.root.querySelector("form")?.elements;
    if (!f) return this.filters;
    const day = (v, add) => {
      if (!v) return "";
      const d = new Date(`${v}T00:00:00`);
      d.setDate(d.getDate() + add);
      return d.toISOString();
    };
    return { resident_id: f.resident_id.value.trim(), user_id: f.user_id.value.trim(),
      field: f.field.value, since: day(f.since.value, 0), until: day(f.until.value, 1) };
  }

  get informs() {
    return ["supervisor", "admin"].includes(this.ctx.me()?.role);
  }

  async loadTasks() {
    if (!this.informs) return;
    try {
      this.tasks = await api.informTasks();
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.tasks = [];
    }
    this.render();
  }

  closeTask(task) {
    formDialog({ testid: "inform-close-form", title: t("inform.close_title"),
      submitLabel: t("inform.close"),
      body: h("label", {}, t("inform.close_note"),
        h("textarea", { name: "note", rows: 2, maxlength: 500, testid: "inform-close-note" })),
      submit: async (form) => {
        await api.closeInformTask(task.id, form.elements.note.value.trim());
        this.ctx.toast(t("inform.closed"), "ok");
        this.loadTasks();
      } });
  }

  informTasks() {
    if (!this.informs) return null;
    const tasks = this.tasks || [];
    return h("section.inform", { testid: "inform-tasks" }, h("h3", {}, t("inform.title")),
      h("p.muted.small", {}, t("inform.note")),
      tasks.length ? h("ul", {}, tasks.map((task) => h("li", { testid: "inform-task" },
        h("span", {}, t("inform.row", { who: task.user_name, when: fmtDateTime(task.created_at),
          resident: task.resident_id ?? "–", alert: task.alert_id ?? "–" })),
        task.reason ? h("span.muted.small", {}, ` — ${task.reason}`) : null, " ",
        h("button.small", { testid: "inform-close", onclick: () => this.closeTask(task) },
          t("inform.close")))))
        : h("p.muted", { testid: "inform-none" }, this.tasks ? t("inform.none") : t("detail.loading")));
  }

  async load(older = false) {
    if (!older) this.filters = this.params();
    const before = older && this.rows?.length ? this.rows[this.rows.length - 1].id : "";
    try {
      const found = await api.accessLog({ ...this.filters, before_id: before, limit: PAGE });
      this.rows = older ? [...this.rows, ...found] : found;
      this.more = found.length === PAGE;
      this.error = "";
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.error = exc.explain();
    }
    this.render();
  }

  render() {
    const v = this.filters;
    const input = (name, type, extra = {}) => h("input", { name, type, value: v[name] ?? "",
      testid: `access-${name}`, ...extra });
    const form = h("form.report-form", { testid: "access-filter",
      onsubmit: (e) => { e.preventDefault(); this.load(); } },
    h("label", {}, t("access.resident"), input("resident_id", "number", { min: 1 })),
    h("label", {}, t("access.user"), input("user_id", "number", { min: 1 })),
    h("label", {}, t("access.field"), h("select", { name: "field", testid: "access-field" },
      h("option", { value: "" }, t("access.any")),
      ...FIELDS.map((f) => h("option", { value: f, selected: v.field === f }, field(f))))),
    h("label", {}, t("access.since"), h("input", { type: "date", name: "since" })),
    h("label", {}, t("access.until"), h("input", { type: "date", name: "until" })),
    h("button.primary", { type: "submit", testid: "access-search" }, t("access.search")));
    this.root.replaceChildren(...[this.informTasks()].filter(Boolean), h("h2", {}, t("access.title")),
      h("p.muted.small", {}, t("access.note")), form, this.table());
  }

  table() {
    if (this.error) return h("p.error", { testid: "access-error" }, this.error);
    if (!this.rows) return h("p.muted", {}, t("detail.loading"));
    if (!this.rows.length) return h("p.muted", { testid: "access-none" }, t("access.none"));
    const rows = this.rows.map((r) => h("tr", { testid: "access-row",
      dataset: { purpose: r.purpose, fields: r.fields.join(" ") } },
    h("td", {}, fmtDateTime(r.ts)),
    h("td", { testid: "access-who" }, `${r.user_name} (${r.role})`),
    h("td", { testid: "access-purpose" }, purpose(r), r.reason ? h("div.muted.small", {}, r.reason) : null),
    h("td", {}, r.residents.map((id) => `#${id}`).join(" ")),
    h("td", { testid: "access-fields" }, r.fields.map(field).join("、"))));
    return h("div", {},
      h("table.grid", { testid: "access-table" },
        h("thead", {}, h("tr", {}, ["access.time", "access.who", "access.purpose",
          "access.residents", "access.fields"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows)),
      this.more ? h("button", { testid: "access-more", onclick: () => this.load(true) },
        t("access.more")) : null);
  }
}
