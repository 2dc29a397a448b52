// A resident's consent ledger on their page: each scope, in force or not, by whom and on what
// document; supervisors and admins record a consent and withdraw one.

import { formDialog } from "../dialogs.js";
import { fmtDateTime, h } from "../dom.js";
import { extend, t } from "../i18n.js";
import { directoryApi as api } from "./api.js";

export const SCOPES = ["alarm_service", "health_monitoring", "activity_sensing", "share_family",
  "share_community", "share_medical"];

extend({
  "zh-CN": {
    "consent.title": "知情同意",
    "consent.s.alarm_service": "紧急呼叫服务",
    "consent.s.health_monitoring": "健康监测（生命体征）",
    "consent.s.activity_sensing": "活动感知",
    "consent.s.share_family": "向家属共享",
    "consent.s.share_community": "向社区共享",
    "consent.s.share_medical": "向医疗机构共享",
    "consent.given": "{name}（{by}）于 {when} 同意",
    "consent.doc": "依据：{doc}",
    "consent.missing": "未同意",
    "consent.by.resident": "本人",
    "consent.by.guardian": "监护人",
    "consent.grant": "记录同意",
    "consent.withdraw": "撤回",
    "consent.withdraw_title": "撤回“{scope}”",
    "consent.withdrawn_by": "撤回人",
    "consent.grant_title": "记录“{scope}”的同意",
    "consent.granted_by": "同意人身份",
    "consent.granted_by_name": "同意人姓名",
    "consent.document": "文件编号",
  },
  en: {
    "consent.title": "Consent",
    "consent.s.alarm_service": "Alarm service",
    "consent.s.health_monitoring": "Health monitoring (vital signs)",
    "consent.s.activity_sensing": "Activity sensing",
    "consent.s.share_family": "Sharing with family",
    "consent.s.share_community": "Sharing with the community",
    "consent.s.share_medical": "Sharing with medical services",
    "consent.given": "given by {name} ({by}) on {when}",
    "consent.doc": "document: {doc}",
    "consent.missing": "not given",
    "consent.by.resident": "the resident",
    "consent.by.guardian": "guardian",
    "consent.grant": "Record consent",
    "consent.withdraw": "Withdraw",
    "consent.withdraw_title": "Withdraw “{scope}”",
    "consent.withdrawn_by": "Withdrawn by",
    "consent.grant_title": "Record consent to “{scope}”",
    "consent.granted_by": "Given by",
    "consent.granted_by_name": "Name",
    "consent.document": "Document",
  },
});

function grantDialog(residentId, scope, done) {
  formDialog({ testid: "consent-form", title: t("consent.grant_title", { scope: t(`consent.s.${scope}`) }),
    body: h("div", {},
      h("label", {}, t("consent.granted_by"), h("select", { name: "granted_by", testid: "consent-by" },
        h("option", { value: "resident" }, t("consent.by.resident")),
        h("option", { value: "guardian" }, t("consent.by.guardian")))),
      h("label", {}, t("consent.granted_by_name"), h("input", { name: "granted_by_name",
        required: true, maxlength: 100, testid: "consent-name" })),
      h("label", {}, t("consent.document"), h("input", { name: "document", maxlength: 200,
        testid: "consent-document" }))),
    submit: async (form) => {
      const f = form.elements;
      await api.grantConsent(residentId, { scope, granted_by: f.granted_by.value,
        granted_by_name: f.granted_by_name.value.trim(), document: f.document.value.trim() });
      done();
    } });
}

function withdrawDialog(residentId, scope, done) {
  formDialog({ testid: "consent-withdraw-form",
    title: t("consent.withdraw_title", { scope: t(`consent.s.${scope}`) }),
    submitLabel: t("consent.withdraw"),
    body: h("label", {}, t("consent.withdrawn_by"), h("input", { name: "by", required: true,
      maxlength: 100, testid: "consent-withdrawn-by" })),
    submit: async (form) => {
      await api.withdrawConsent(residentId, scope, form.elements.by.value.trim());
      done();
    } });
}

/** The card: ``consents`` as ``GET /api/residents/{id}/consents`` answers. */
export function consentCard(residentId, consents, editor, done) {
  const current = new Map(consents.ledger.filter((c) => !c.withdrawn_at).map((c) => [c.scope, c]));
  return h("section.card", { testid: "res-consents" }, h("h3", {}, t("consent.title")),
    h("ul.consents", {}, SCOPES.map((scope) => {
      const c = current.get(scope);
      return h("li", { testid: "res-consent", dataset: { scope, inForce: c ? "1" : "" } },
        h("b", {}, t(`consent.s.${scope}`)), " ",
        c ? h("span", {}, t("consent.given", { name: c.granted_by_name,
          by: t(`consent.by.${c.granted_by}`), when: fmtDateTime(c.granted_at) }),
        c.document ? h("span.muted.small", {}, ` · ${t("consent.doc", { doc: c.document })}`) : null)
          : h("b.off", {}, t("consent.missing")), " ",
        editor ? (c ? h("button.small", { testid: "consent-withdraw",
          onclick: () => withdrawDialog(residentId, scope, done) }, t("consent.withdraw"))
          : h("button.small", { testid: "consent-grant",
            onclick: () => grantDialog(residentId, scope, done) }, t("consent.grant"))) : null);
    })));
}
