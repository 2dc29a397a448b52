// One's own account (the header's "我的账户"): change the password, see and end one's sessions.
// Signing in with a one-time code from an admin (the sign-in page's "使用重置码登录"), setting
// a new password. Also the password policy's words, which the users view shares.

import { api, ApiError } from "./api.js";
import { formDialog } from "./dialogs.js";
import { fmtDateTime, h } from "./dom.js";
import { extend, t } from "./i18n.js";

extend({
  "zh-CN": {
    "header.account": "我的账户",
    "account.title": "我的账户",
    "account.password": "修改密码",
    "account.current": "当前密码",
    "account.new": "新密码",
    "account.repeat": "再次输入新密码",
    "account.change": "修改密码",
    "account.changed": "密码已修改；您在其他地方的登录已全部退出",
    "account.sessions": "我的登录",
    "account.session_here": "本机",
    "account.session_end": "退出该登录",
    "account.session_ended": "该登录已退出",
    "account.session_line": "{from} · 登录于 {created} · 最近使用 {used}",
    "account.browser": "浏览器",
    "password.policy": "至少 10 个字符，不能包含用户名，也不能是常见密码（如 1234567890、password123）。",
    "password.mismatch": "两次输入的新密码不一致",
    "why.password_too_short": "密码至少需要 10 个字符",
    "why.password_too_long": "密码最多 200 个字符",
    "why.password_has_username": "密码不能包含用户名",
    "why.password_too_common": "这个密码太常见，容易被猜到，请换一个",
    "why.password_characters": "密码含有不能使用的字符",
    "why.password_wrong": "当前密码不正确",
    "why.password_unchanged": "新密码不能与当前密码相同",
    "login.with_code": "使用重置码登录",
    "reset.title": "使用重置码登录",
    "reset.explain": "管理员为您生成了一次性重置码。输入用户名和重置码，并设置新密码。",
    "reset.code": "重置码",
    "reset.submit": "设置新密码并登录",
    "reset.wrong_code": "用户名或重置码不对，或重置码已使用、已过期；请向管理员要新的重置码",
  },
  en: {
    "header.account": "My account",
    "account.title": "My account",
    "account.password": "Change password",
    "account.current": "Current password",
    "account.new": "New password",
    "account.repeat": "New password again",
    "account.change": "Change password",
    "account.changed": "Password changed; your other sign-ins have ended",
    "account.sessions": "My sign-ins",
    "account.session_here": "this one",
    "account.session_end": "End this sign-in",
    "account.session_ended": "That sign-in has ended",
    "account.session_line": "{from} · signed in {created} · last used {used}",
    "account.browser": "Browser",
    "password.policy": "At least 10 characters, not containing the user name, and not a common password (such as 1234567890 or password123).",
    "password.mismatch": "The two new passwords differ",
    "why.password_too_short": "A password needs at least 10 characters",
    "why.password_too_long": "A password has at most 200 characters",
    "why.password_has_username": "A password must not contain the user name",
    "why.password_too_common": "This password is among the first that guessers try; choose another",
    "why.password_characters": "The password holds characters that cannot be used",
    "why.password_wrong": "The current password is not right",
    "why.password_unchanged": "The new password must differ from the current one",
    "login.with_code": "Sign in with a reset code",
    "reset.title": "Sign in with a reset code",
    "reset.explain": "An administrator made you a one-time reset code. Enter your user name and the code, and set a new password.",
    "reset.code": "Reset code",
    "reset.submit": "Set the new password and sign in",
    "reset.wrong_code": "Wrong user name or code, or the code was used or has expired; ask an administrator for a new one",
  },
});

/** A labelled password input. */
export function passwordField(name, key, testid, autocomplete = "new-password") {
  return h("label.block", {}, h("span", {}, t(key)),
    h("input", { type: "password", name, required: true, maxlength: 200, autocomplete, testid }));
}

/** The new password twice, with the policy in words. */
export function newPasswordFields(prefix = "new") {
  return [h("p.muted.small.policy", {}, t("password.policy")),
    passwordField("new_password", "account.new", `${prefix}-password`),
    passwordField("repeat", "account.repeat", `${prefix}-repeat`)];
}

/** The new password of a form, if typed the same twice (else an Error in words). */
export function newPassword(form) {
  const value = form.elements.new_password.value;
  if (value !== form.elements.repeat.value) throw new Error(t("password.mismatch"));
  return value;
}

/** An ApiError of a sign-in kind of request, in words (429: how long to wait). */
function refusal(exc, wrong) {
  if (!(exc instanceof ApiError)) return exc;
  if (exc.status === 429) return new Error(t("login.locked", { seconds: exc.retryAfter ?? 60 }));
  if (exc.status === 401 && wrong) return new Error(wrong);
  return exc;
}

/** The sign-in page's "sign in with a reset code": ``signedIn(user)`` once it worked. */
export function codeSignInDialog(signedIn, username = "") {
  formDialog({
    testid: "reset-form", title: t("reset.title"), submitLabel: t("reset.submit"),
    body: [h("p.muted", {}, t("reset.explain")),
      h("label.block", {}, h("span", {}, t("login.username")),
        h("input", { name: "username", required: true, value: username, autocomplete: "username",
          testid: "reset-username" })),
      h("label.block", {}, h("span", {}, t("reset.code")),
        h("input.mono", { name: "code", required: true, maxlength: 40, autocomplete: "off",
          placeholder: "XXXX-XXXX-XXXX", testid: "reset-code" })),
      ...newPasswordFields("reset")],
    submit: async (form) => {
      const password = newPassword(form);
      try {
        const { user } = await api.codeSignIn(form.elements.username.value.trim(),
          form.elements.code.value.trim(), password);
        signedIn(user);
      } catch (exc) {
        throw refusal(exc, t("reset.wrong_code"));
      }
    },
  });
}

/** The header's "my account": change the password; one's sign-ins, each of which can end. */
export function accountDialog(ctx) {
  const sessions = h("ul.my-sessions", { testid: "my-sessions" });
  const form = formDialog({
    testid: "account-form", title: t("account.title"), submitLabel: t("account.change"),
    body: [h("h3", {}, t("account.password")),
      passwordField("current_password", "account.current", "current-password",
        "current-password"),
      ...newPasswordFields(),
      h("h3", {}, t("account.sessions")), sessions],
    submit: async (f) => {
      const password = newPassword(f);
      try {
        await api.changePassword(f.elements.current_password.value, password);
      } catch (exc) {
        throw refusal(exc);
      }
      ctx.toast(t("account.changed"), "ok");
    },
  });
  const load = async () => {
    try {
      const rows = await api.mySessions();
      sessions.replaceChildren(...rows.map((s) => h("li", { testid: "my-session" },
        h("span", {}, t("account.session_line", { from: s.client || "?",
          created: fmtDateTime(s.created_at), used: fmtDateTime(s.last_used) }),
        h("span.muted.small.agent", {}, s.user_agent)),
        s.current ? h("b.here", {}, t("account.session_here"))
          : h("button.small", { type: "button", testid: "end-my-session", onclick: async () => {
            await api.endMySession(s.id).catch(() => {});
            ctx.toast(t("account.session_ended"), "ok");
            load();
          } }, t("account.session_end")))));
    } catch (exc) {
      if (exc instanceof ApiError && exc.status !== 401) ctx.toast(exc.explain(), "error");
    }
  };
  load();
  return form;
}
