// Users (用户管理): accounts for admins (create, edit role and regions, reset password,
// deactivate, sign-ins), login lockouts for supervisors (see, clear), the user-management audit
// trail for auditors. Each part is a section of its own: #/users/list, #/users/lockouts,
// #/users/audit; a role sees the sections it may use.

import { api, ApiError } from "./api.js";
import { newPasswordFields, newPassword } from "./account.js";
import { formDialog } from "./dialogs.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, label, t } from "./i18n.js";

const ROLES = ["operator", "supervisor", "technician", "admin", "auditor", "visitor"];
const SECTIONS = [
  { name: "list", roles: ["admin"] },
  { name: "lockouts", roles: ["admin", "supervisor"] },
  { name: "audit", roles: ["admin", "auditor"] },
];

extend({
  "zh-CN": {
    "tab.users": "用户管理",
    "users.title": "用户管理",
    "users.s.list": "用户",
    "users.s.lockouts": "登录锁定",
    "users.s.audit": "操作记录",
    "users.new": "新建用户",
    "users.username": "用户名",
    "users.name": "姓名",
    "users.role": "角色",
    "users.regions": "负责区域",
    "users.all_regions": "全部区域",
    "users.regions_hint": "不选：全部区域（主管、管理员、审计员通常如此）",
    "users.language": "界面语言",
    "users.password": "初始密码",
    "users.status": "状态",
    "users.active": "在用",
    "users.inactive": "已停用",
    "users.last_login": "最近登录",
    "users.never": "从未登录",
    "users.sessions": "在线登录",
    "users.actions": "操作",
    "users.edit": "编辑",
    "users.edit_title": "编辑用户 {name}",
    "users.reset": "重置密码",
    "users.reset_confirm": "为 {name} 生成一次性重置码？其当前密码和所有登录将立即失效。",
    "users.reset_title": "{name} 的重置码",
    "users.reset_once": "此码只显示这一次。请当面或电话告知本人；本人在登录页点“使用重置码登录”，输入此码并设置新密码。",
    "users.reset_expires": "有效期至 {time}，只能使用一次",
    "users.deactivate": "停用",
    "users.deactivate_confirm": "停用 {name}？其所有登录将立即退出，且不能再登录。",
    "users.activate": "启用",
    "users.show_sessions": "登录",
    "users.sessions_title": "{name} 的登录",
    "users.end_session": "结束",
    "users.end_all": "全部结束",
    "users.no_sessions": "没有在线的登录",
    "users.session_line": "{from} · 登录于 {created} · 最近使用 {used}",
    "users.created": "已创建用户 {name}",
    "users.saved": "已保存",
    "users.deactivated": "已停用，登录已全部退出",
    "users.activated": "已启用",
    "users.confirm": "确认",
    "users.none": "暂无用户",
    "lockouts.kind": "类型",
    "lockouts.kind.account": "账户",
    "lockouts.kind.address": "来源地址",
    "lockouts.subject": "账户 / 地址",
    "lockouts.failures": "连续失败",
    "lockouts.state": "状态",
    "lockouts.waiting": "需等待 {seconds} 秒",
    "lockouts.free": "可以再试",
    "lockouts.last": "最近一次失败",
    "lockouts.clear": "解除",
    "lockouts.cleared": "已解除，可立即重新登录",
    "lockouts.none": "近一小时没有登录失败",
    "lockouts.note": "连续失败 5 次（同一来源地址 20 次）后，每次再试都要等待，等待时间逐次加倍（2、4、8 秒…最长 15 分钟）；正确的密码在允许时总能登录。解除后立即可以再试。",
    "lockouts.unknown_user": "（无此用户）",
    "audit.time": "时间",
    "audit.actor": "操作人",
    "audit.action": "操作",
    "audit.target": "对象",
    "audit.details": "详情",
    "audit.client": "来源",
    "audit.none": "暂无记录",
    "audit.more": "更早的记录",
    "uaction.create": "新建用户",
    "uaction.update": "修改",
    "uaction.deactivate": "停用",
    "uaction.activate": "启用",
    "uaction.reset_issued": "生成重置码",
    "uaction.reset_used": "用重置码设置新密码",
    "uaction.password_changed": "修改自己的密码",
    "uaction.session_ended": "结束一个登录",
    "uaction.sessions_ended": "结束全部登录",
    "uaction.lockout_cleared": "解除登录锁定",
    "ufield.display_name": "姓名",
    "ufield.role": "角色",
    "ufield.language": "语言",
    "ufield.regions": "区域",
    "ufield.sessions_ended": "退出的登录",
    "ufield.expires_at": "有效期至",
    "ufield.kind": "类型",
    "ufield.subject": "对象",
    "ufield.session": "登录编号",
    "ufield.client": "来源",
  },
  en: {
    "tab.users": "Users",
    "users.title": "Users",
    "users.s.list": "Accounts",
    "users.s.lockouts": "Lockouts",
    "users.s.audit": "Audit trail",
    "users.new": "New user",
    "users.username": "User name",
    "users.name": "Name",
    "users.role": "Role",
    "users.regions": "Regions",
    "users.all_regions": "all regions",
    "users.regions_hint": "None ticked: all regions (usual for supervisors, admins, auditors)",
    "users.language": "Console language",
    "users.password": "Initial password",
    "users.status": "Status",
    "users.active": "active",
    "users.inactive": "deactivated",
    "users.last_login": "Last sign-in",
    "users.never": "never",
    "users.sessions": "Signed in",
    "users.actions": "Actions",
    "users.edit": "Edit",
    "users.edit_title": "Edit {name}",
    "users.reset": "Reset password",
    "users.reset_confirm": "Make a one-time reset code for {name}? Their current password and every sign-in end now.",
    "users.reset_title": "Reset code for {name}",
    "users.reset_once": "This code is shown only now. Tell it to the user in person or by phone; they click \"Sign in with a reset code\" on the sign-in page, enter it and set a new password.",
    "users.reset_expires": "Valid until {time}, once",
    "users.deactivate": "Deactivate",
    "users.deactivate_confirm": "Deactivate {name}? Every sign-in of theirs ends now, and they cannot sign in again.",
    "users.activate": "Activate",
    "users.show_sessions": "Sign-ins",
    "users.sessions_title": "Sign-ins of {name}",
    "users.end_session": "End",
    "users.end_all": "End all",
    "users.no_sessions": "Not signed in anywhere",
    "users.session_line": "{from} · signed in {created} · last used {used}",
    "users.created": "Created {name}",
    "users.saved": "Saved",
    "users.deactivated": "Deactivated; every sign-in ended",
    "users.activated": "Activated",
    "users.confirm": "Confirm",
    "users.none": "No users",
    "lockouts.kind": "Kind",
    "lockouts.kind.account": "account",
    "lockouts.kind.address": "source address",
    "lockouts.subject": "Account / address",
    "lockouts.failures": "Failures in a row",
    "lockouts.state": "State",
    "lockouts.waiting": "waits {seconds} s",
    "lockouts.free": "may try again",
    "lockouts.last": "Last failure",
    "lockouts.clear": "Clear",
    "lockouts.cleared": "Cleared: they may sign in again at once",
    "lockouts.none": "No failed sign-ins in the last hour",
    "lockouts.note": "After 5 failures in a row (20 from one source address) each further try waits, twice as long each time (2, 4, 8 s … up to 15 min); the right password always gets in when a try is allowed. Clearing lets them try again at once.",
    "lockouts.unknown_user": "(no such user)",
    "audit.time": "Time",
    "audit.actor": "By",
    "audit.action": "Action",
    "audit.target": "Account",
    "audit.details": "Details",
    "audit.client": "From",
    "audit.none": "Nothing recorded yet",
    "audit.more": "Older entries",
    "uaction.create": "created",
    "uaction.update": "changed",
    "uaction.deactivate": "deactivated",
    "uaction.activate": "activated",
    "uaction.reset_issued": "made a reset code",
    "uaction.reset_used": "set a new password with a code",
    "uaction.password_changed": "changed their own password",
    "uaction.session_ended": "ended a sign-in",
    "uaction.sessions_ended": "ended every sign-in",
    "uaction.lockout_cleared": "cleared a lockout",
    "ufield.display_name": "name",
    "ufield.role": "role",
    "ufield.language": "language",
    "ufield.regions": "regions",
    "ufield.sessions_ended": "sign-ins ended",
    "ufield.expires_at": "valid until",
    "ufield.kind": "kind",
    "ufield.subject": "subject",
    "ufield.session": "sign-in",
    "ufield.client": "from",
  },
});

function pick(root, name) {
  return root.querySelector(`[name="${name}"]`);
}

export class UsersView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.reset();
  }

  reset() {
    this.section = null;
    this.users = null;
    this.regions = [];
    this.lockouts = null;
    this.audit = null;
    this.auditMore = false;
    this.error = "";
  }

  translate() {
    this.render();
  }

  sections() {
    const role = this.ctx.me()?.role;
    return SECTIONS.filter((s) => s.roles.includes(role));
  }

  enter(path) {
    const mine = this.sections();
    this.section = mine.find((s) => s.name === path)?.name ?? mine[0]?.name ?? null;
    this.render();
    this.load();
  }

  go(name) {
    this.ctx.go(`#/users/${name}`);
  }

  async load() {
    const section = this.section;
    try {
      if (section === "list") {
        [this.users, this.regions] = await Promise.all([api.users(), api.regions()]);
      } else if (section === "lockouts") {
        this.lockouts = await api.lockouts();
      } else if (section === "audit") {
        [this.audit, this.regions] = await Promise.all([api.userAudit({ limit: 100 }),
          api.regions()]);
        this.auditMore = this.audit.length === 100;
      }
      this.error = "";
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status === 401) return;
      this.error = exc.explain();
    }
    if (section === this.section) this.render();
  }

  /** Run an API call; say it worked (``done``) or why not; then read the section again. */
  async act(call, done) {
    try {
      const result = await call();
      if (done) this.ctx.toast(done, "ok");
      return result;
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) this.ctx.toast(exc.explain(), "error");
      return undefined;
    } finally {
      this.load();
    }
  }

  render() {
    const tabs = this.sections().map((s) => h("button.seg", {
      testid: `users-${s.name}-tab`, "aria-pressed": s.name === this.section ? "true" : "false",
      onclick: () => this.go(s.name) }, t(`users.s.${s.name}`)));
    const body = this.error ? h("p.error", { testid: "users-error" }, this.error)
      : this.section === "list" ? this.list()
        : this.section === "lockouts" ? this.lockoutList()
          : this.section === "audit" ? this.auditTrail() : null;
    this.root.replaceChildren(h("div.users-head", {}, h("h2", {}, t("users.title")),
      h("div.segmented", { role: "tablist" }, tabs)), body);
  }

  // ---------------------------------------------------------------- accounts

  regionName(id) {
    return this.regions.find((r) => r.id === id)?.name ?? `#${id}`;
  }

  list() {
    if (!this.users) return h("p.muted", {}, t("detail.loading"));
    const rows = this.users.map((u) => h(`tr${u.active ? "" : ".inactive"}`, {
      testid: "user-row", dataset: { username: u.username } },
    h("td.mono", {}, u.username),
    h("td", {}, u.display_name),
    h("td", {}, h(`span.role-tag.role-${u.role}`, { testid: "user-role" }, label("role", u.role))),
    h("td", { testid: "user-regions" }, u.regions.length
      ? u.regions.map((r) => this.regionName(r)).join("、") : h("span.muted", {}, t("users.all_regions"))),
    h("td", { testid: "user-status" }, u.active ? t("users.active")
      : h("b.off", {}, t("users.inactive"))),
    h("td", {}, u.last_login_at ? fmtDateTime(u.last_login_at)
      : h("span.muted", {}, t("users.never"))),
    h("td.num", {}, u.sessions ? h("button.link", { testid: "user-sessions",
      onclick: () => this.sessionsDialog(u) }, String(u.sessions)) : "0"),
    h("td.actions", {},
      h("button.small", { testid: "user-edit", onclick: () => this.editDialog(u) }, t("users.edit")),
      u.active ? h("button.small", { testid: "user-reset", onclick: () => this.resetDialog(u) },
        t("users.reset")) : null,
      u.active ? h("button.small.danger", { testid: "user-deactivate",
        onclick: () => this.deactivateDialog(u) }, t("users.deactivate"))
        : h("button.small", { testid: "user-activate", onclick: () => this.act(
          () => api.activateUser(u.id), t("users.activated")) }, t("users.activate")))));
    return h("div.users-list", {},
      h("div.toolbar", {}, h("button.primary", { testid: "user-new",
        onclick: () => this.newDialog() }, t("users.new"))),
      rows.length ? h("table.grid", { testid: "users-table" },
        h("thead", {}, h("tr", {}, ["users.username", "users.name", "users.role", "users.regions",
          "users.status", "users.last_login", "users.sessions", "users.actions"]
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows)) : h("p.muted", {}, t("users.none")));
  }

  /** Role, regions and language fields (of ``user``, when editing). */
  accountFields(user = null) {
    const role = h("select", { name: "role", testid: "user-form-role" },
      ROLES.map((r) => h("option", { value: r, selected: (user?.role ?? "operator") === r },
        label("role", r))));
    const regions = h("div.region-choices", { testid: "user-form-regions" },
      this.regions.map((r) => h("label.choice.inline", {},
        h("input", { type: "checkbox", name: "region", value: r.id,
          checked: Boolean(user?.regions.includes(r.id)) }),
        h("span", {}, r.parent_id ? r.name : `${r.name}（${r.level}）`))));
    const language = h("select", { name: "language" },
      [["zh-CN", "中文"], ["en", "English"]].map(([v, text]) => h("option",
        { value: v, selected: (user?.language ?? "zh-CN") === v }, text)));
    return [
      h("label.block", {}, h("span", {}, t("users.name")),
        h("input", { name: "display_name", required: true, maxlength: 80,
          value: user?.display_name ?? "", testid: "user-form-name" })),
      h("label.block", {}, h("span", {}, t("users.role")), role),
      h("fieldset", {}, h("legend", {}, t("users.regions")), regions,
        h("span.muted.small", {}, t("users.regions_hint"))),
      h("label.block", {}, h("span", {}, t("users.language")), language)];
  }

  static picked(form) {
    return {
      display_name: pick(form, "display_name").value.trim(),
      role: pick(form, "role").value,
      language: pick(form, "language").value,
      regions: [...form.querySelectorAll('input[name="region"]:checked')].map((c) => Number(c.value)),
    };
  }

  newDialog() {
    formDialog({
      testid: "user-form", title: t("users.new"), submitLabel: t("users.new"),
      body: [h("label.block", {}, h("span", {}, t("users.username")),
        h("input.mono", { name: "username", required: true, pattern: "[a-z0-9_.\\-]{2,40}",
          maxlength: 40, autocomplete: "off", testid: "user-form-username" })),
      ...this.accountFields(),
      h("h3", {}, t("users.password")), ...newPasswordFields("user-form")],
      submit: async (form) => {
        const body = { ...UsersView.picked(form), username: pick(form, "username").value.trim(),
          password: newPassword(form) };
        await api.addUser(body);
        this.ctx.toast(t("users.created", { name: body.display_name }), "ok");
        this.load();
      },
    });
  }

  editDialog(user) {
    formDialog({
      testid: "user-form", title: t("users.edit_title", { name: user.display_name }),
      body: this.accountFields(user),
      submit: async (form) => {
        await api.updateUser(user.id, UsersView.picked(form));
        this.ctx.toast(t("users.saved"), "ok");
        this.load();
      },
    });
  }

  confirmDialog(testid, text, submitLabel, call) {
    formDialog({ testid, title: submitLabel, submitLabel, body: h("p", {}, text),
      submit: call });
  }

  deactivateDialog(user) {
    this.confirmDialog("deactivate-form", t("users.deactivate_confirm",
      { name: user.display_name }), t("users.deactivate"), async () => {
      await api.deactivateUser(user.id);
      this.ctx.toast(t("users.deactivated"), "ok");
      this.load();
    });
  }

  resetDialog(user) {
    this.confirmDialog("reset-confirm", t("users.reset_confirm", { name: user.display_name }),
      t("users.reset"), async () => {
        const issued = await api.resetPassword(user.id);
        this.load();
        // shown once: after the confirmation closes, in a dialog of its own
        setTimeout(() => this.codeDialog(user, issued), 0);
      });
  }

  codeDialog(user, issued) {
    const form = formDialog({
      testid: "reset-code-shown", title: t("users.reset_title", { name: user.display_name }),
      submitLabel: t("dialog.close"),
      body: [h("code.reset-code", { testid: "reset-code-value" }, issued.code),
        h("p.muted", {}, t("users.reset_expires", { time: fmtDateTime(issued.expires_at) })),
        h("p", {}, t("users.reset_once"))],
      submit: async () => {},
    });
    form.querySelector("[data-testid=dialog-cancel]").hidden = true; // nothing to cancel
  }

  async sessionsDialog(user) {
    const list = h("ul.user-sessions", { testid: "user-session-list" });
    const fill = async () => {
      const rows = await api.sessions(user.id).catch(() => []);
      list.replaceChildren(...(rows.length ? rows.map((s) => h("li", { testid: "user-session" },
        h("span", {}, t("users.session_line", { from: s.client || "?",
          created: fmtDateTime(s.created_at), used: fmtDateTime(s.last_used) }),
        h("span.muted.small.agent", {}, s.user_agent)),
        h("button.small", { type: "button", testid: "end-session", onclick: async () => {
          await this.act(() => api.endSession(s.id));
          fill();
        } }, t("users.end_session")))) : [h("li.muted", {}, t("users.no_sessions"))]));
    };
    formDialog({
      testid: "sessions-form", title: t("users.sessions_title", { name: user.display_name }),
      submitLabel: t("users.end_all"), body: list,
      submit: async () => {
        await api.endUserSessions(user.id);
        this.load();
      },
    });
    fill();
  }

  // ---------------------------------------------------------------- lockouts

  lockoutList() {
    if (!this.lockouts) return h("p.muted", {}, t("detail.loading"));
    const rows = this.lockouts.map((l) => h(`tr${l.wait_s > 0 ? ".waiting" : ""}`, {
      testid: "lockout-row", dataset: { kind: l.kind, subject: l.subject } },
    h("td", {}, t(`lockouts.kind.${l.kind}`)),
    h("td", {}, h("span.mono", {}, l.subject), " ",
      l.kind === "account" ? h("span.muted", {}, l.display_name ?? t("lockouts.unknown_user"))
        : null),
    h("td.num", { testid: "lockout-failures" }, String(l.failures)),
    h("td", { testid: "lockout-state" }, l.wait_s > 0
      ? h("b.wait", {}, t("lockouts.waiting", { seconds: Math.ceil(l.wait_s) }))
      : t("lockouts.free")),
    h("td", {}, fmtDateTime(l.last_failure)),
    h("td.actions", {}, h("button.small", { testid: "lockout-clear", onclick: () => this.act(
      () => api.clearLockout(l.kind, l.subject), t("lockouts.cleared")) }, t("lockouts.clear")))));
    return h("div.lockouts", {},
      h("p.muted.small.note", {}, t("lockouts.note")),
      rows.length ? h("table.grid", { testid: "lockouts-table" },
        h("thead", {}, h("tr", {}, ["lockouts.kind", "lockouts.subject", "lockouts.failures",
          "lockouts.state", "lockouts.last", "users.actions"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows)) : h("p.muted", { testid: "lockouts-empty" }, t("lockouts.none")));
  }

  // ---------------------------------------------------------------- audit trail

  auditTrail() {
    if (!this.audit) return h("p.muted", {}, t("detail.loading"));
    const rows = this.audit.map((a) => h("tr", { testid: "audit-row", dataset: { action: a.action } },
      h("td", {}, fmtDateTime(a.ts)),
      h("td", {}, a.actor === "system" ? t("timeline.system") : a.actor),
      h("td", {}, t(`uaction.${a.action}`)),
      h("td.mono", {}, a.target),
      h("td.details", {}, details(a.action, a.data, (id) => this.regionName(id))),
      h("td.mono.small", {}, a.client)));
    return h("div.audit", {},
      rows.length ? h("table.grid", { testid: "audit-table" },
        h("thead", {}, h("tr", {}, ["audit.time", "audit.actor", "audit.action", "audit.target",
          "audit.details", "audit.client"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows)) : h("p.muted", {}, t("audit.none")),
      this.auditMore ? h("button.more", { testid: "audit-more", onclick: () => this.older() },
        t("audit.more")) : null);
  }

  async older() {
    const last = this.audit.at(-1);
    const rows = await this.act(() => api.userAudit({ before_id: last.id, limit: 100 }));
    if (!rows) return;
    this.audit = [...this.audit, ...rows];
    this.auditMore = rows.length === 100;
    this.render();
  }
}

/** An audit row's data in words: "角色: 接警员 → 值班主管；…" (an update holds [before, after]). */
function details(action, data, regionName) {
  const value = (field, v) => {
    if (field === "regions") return v.length ? v.map(regionName).join("、") : t("users.all_regions");
    if (field === "role") return label("role", v);
    if (field === "expires_at") return fmtDateTime(v);
    if (field === "kind") return t(`lockouts.kind.${v}`);
    if (field === "language") return { "zh-CN": "中文", en: "English" }[v] ?? v;
    return String(v);
  };
  return Object.entries(data || {}).map(([field, v]) => {
    const key = `ufield.${field}`;
    const name = t(key) !== key ? t(key) : field;
    const text = action === "update" ? `${value(field, v[0])} → ${value(field, v[1])}`
      : value(field, v);
    return `${name}: ${text}`;
  }).join("；");
}
