// The wearer's side of an alert: a detected fall they may cancel (their wearable alerted them),
// a fall they cancelled (still in the queue, lower, for a call back), an inactivity pre-warning
// they answered (a record in history). Tags for the queue row and the alert's head, and the
// words for these entries of the timeline. Used by queue.js and alert.js.

import { fmtTime, h, now } from "./dom.js";
import { extend, t } from "./i18n.js";

extend({
  "zh-CN": {
    "wearer.may_cancel": "已提醒佩戴者 · {s} 秒内可取消",
    "wearer.not_cancelled": "佩戴者未取消",
    "wearer.cancelled": "佩戴者已取消 · 请回电",
    "wearer.cancelled_title": "{by}，报警后 {s} 秒",
    "wearer.by.press": "按键取消",
    "wearer.by.cancel": "按取消键",
    "wearer.by.got_up": "已自行起身",
    "wearer.prewarning": "无活动预警 · 老人已应答",
    "wearer.prewarning_title": "询问后 {s} 秒按键应答，无需处置",
    "action.prompt_wearer": "提醒佩戴者",
    "action.wearer_cancel": "佩戴者取消",
    "action.prewarn_prompted": "询问老人",
    "event.answer.fall": "按键：我没事（取消跌倒报警）",
    "event.answer.fall_got_up": "起身（取消跌倒报警）",
    "event.answer.prewarn": "按键：应答无活动预警",
    "sysnote.wearer_prompted": "{device} 已振动提醒佩戴者，{s} 秒内可按键取消",
    "sysnote.wearer_prompted_gateway": "网关已自行提醒佩戴者（{device}），{s} 秒内可取消",
    "sysnote.wearer_not_prompted": "未能提醒佩戴者：网关未连通",
    "sysnote.wearer_cancel": "佩戴者已取消（{by}，报警后 {s} 秒）：跌倒不再是 P1，请回电确认",
    "sysnote.wearer_cancel_again": "佩戴者再次取消（{by}）",
    "sysnote.same_fall": "同一次跌倒，{by}也检测到",
    "sysnote.by.gateway": "网关",
    "sysnote.by.server": "服务器",
    "sysnote.prewarning": "无活动预警记录：老人已应答，无需处置",
    "sysnote.prewarn_prompted": "无活动预警：{at} 网关询问老人是否安好，手环/挂件提示",
    "sysnote.prewarn_answered": "老人在询问后 {s} 秒按键应答",
  },
  en: {
    "wearer.may_cancel": "Wearer alerted · may cancel ({s} s)",
    "wearer.not_cancelled": "Not cancelled by the wearer",
    "wearer.cancelled": "Cancelled by the wearer · call back",
    "wearer.cancelled_title": "{by}, {s} s after the alarm",
    "wearer.by.press": "button pressed",
    "wearer.by.cancel": "cancel pressed",
    "wearer.by.got_up": "got up",
    "wearer.prewarning": "Inactivity pre-warning · answered",
    "wearer.prewarning_title": "answered with a press {s} s after being asked; nothing to do",
    "action.prompt_wearer": "Wearer alerted",
    "action.wearer_cancel": "Cancelled by the wearer",
    "action.prewarn_prompted": "Resident asked",
    "event.answer.fall": "Pressed: I'm all right (cancels the fall)",
    "event.answer.fall_got_up": "Got up (cancels the fall)",
    "event.answer.prewarn": "Pressed: answers the inactivity pre-warning",
    "sysnote.wearer_prompted": "{device} alerted its wearer: may cancel with a press within {s} s",
    "sysnote.wearer_prompted_gateway": "the gateway alerted the wearer itself ({device}): may "
      + "cancel within {s} s",
    "sysnote.wearer_not_prompted": "the wearer could not be alerted: the gateway was not reached",
    "sysnote.wearer_cancel": "cancelled by the wearer ({by}, {s} s after the alarm): no longer "
      + "P1, call back to check",
    "sysnote.wearer_cancel_again": "the wearer cancelled again ({by})",
    "sysnote.same_fall": "the same fall, detected by the {by} too",
    "sysnote.by.gateway": "gateway",
    "sysnote.by.server": "server",
    "sysnote.prewarning": "inactivity pre-warning record: the resident answered, nothing to do",
    "sysnote.prewarn_prompted": "inactivity pre-warning: at {at} the gateway asked the resident "
      + "whether they are all right; their wearable alerted",
    "sysnote.prewarn_answered": "the resident answered with a press {s} s after being asked",
  },
});

const seconds = (value) => (value == null ? "?" : String(Math.round(Number(value))));
const byLabel = (by) => t(`wearer.by.${by || "press"}`);

/** The alert's wearer tag (queue row, alert head), or null: may cancel (a live countdown),
 * not cancelled, cancelled by the wearer, or an answered pre-warning. */
export function wearerTag(alert) {
  if (alert.prewarning) {
    return h("span.tag.prewarning", { testid: "prewarning-answered",
      title: t("wearer.prewarning_title", { s: seconds(alert.prewarning.after_s) }) },
    t("wearer.prewarning"));
  }
  const w = alert.wearer;
  if (!w || alert.type !== "fall") return null;
  if (w.cancelled_at) {
    return h("span.tag.wearer-cancelled", { testid: "wearer-cancelled",
      title: t("wearer.cancelled_title", { by: byLabel(w.cancelled_by), s: seconds(w.after_s) }) },
    t("wearer.cancelled"));
  }
  if (!w.prompted_at) return null;
  const until = (Number(w.prompted_at) + Number(w.window_s || 0)) * 1000;
  const tag = h("span.tag.wearer-prompt", { testid: "wearer-prompt",
    dataset: { wearerUntil: String(until) } });
  countdown(tag);
  return tag;
}

/** Whether a timeline entry is the elder's answer to a prompt (not an alarm). */
export function isAnswer(e) {
  return e.kind === "event" && Boolean(e.data?.data?.answers);
}

/** The timeline's words for an entry this module knows (else null: alert.js's own). */
export function timelineLabel(e) {
  if (e.kind === "audit" && e.data?.reason === "prewarn_prompted") {
    return t("action.prewarn_prompted");
  }
  if (e.kind === "event") {
    const data = e.data?.data || {};
    if (data.answers === "fall") {
      return t(data.by === "got_up" ? "event.answer.fall_got_up" : "event.answer.fall");
    }
    if (data.answers === "prewarn") return t("event.answer.prewarn");
  }
  return null;
}

/** A system note of this module's, in the console's language (else null). */
export function wearerNote(e) {
  const d = e.data || {};
  if (e.actor !== "system") return null;
  switch (d.reason) {
    case "wearer_prompted":
      return t(d.via === "gateway" ? "sysnote.wearer_prompted_gateway" : "sysnote.wearer_prompted",
        { device: d.device, s: seconds(d.seconds) });
    case "wearer_cancel":
    case "wearer_cancel_again":
      return t(`sysnote.${d.reason}`, { by: byLabel(d.by), s: seconds(d.seconds) });
    case "same_fall":
      return t("sysnote.same_fall", { by: t(`sysnote.by.${d.by}`) });
    case "prewarn_answered":
      return t("sysnote.prewarn_answered", { s: seconds(d.seconds) });
    case "prewarn_prompted":
      return t("sysnote.prewarn_prompted",
        { at: d.at ? fmtTime(new Date(Number(d.at) * 1000).toISOString()) : "" });
    default:
      return null;
  }
}

function countdown(tag) {
  const left = Math.ceil((Number(tag.dataset.wearerUntil) - now()) / 1000);
  const open = left > 0;
  tag.textContent = open ? t("wearer.may_cancel", { s: left }) : t("wearer.not_cancelled");
  tag.classList.toggle("open", open);
}

setInterval(() => {
  for (const tag of document.querySelectorAll("[data-wearer-until]")) countdown(tag);
}, 1000);
document.head.append(h("link", { rel: "stylesheet", href: "css/wearer.css" }));
