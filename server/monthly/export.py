"""The monthly report as files: a flat CSV (UTF-8 with BOM, for Excel), an XLSX workbook
(openpyxl, one sheet per section) and a printable zh-CN HTML page with inline SVG charts."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from server.monthly.figures import MonthFigures, MonthlyReport
from server.monthly.svg import bar_chart

TYPE_NAMES = {
    "panic": "紧急呼叫", "fall": "跌倒", "vitals": "生命体征", "inactivity": "长时间无活动",
    "low_battery": "低电量", "tamper": "防拆", "device_silent": "设备失联",
    "gateway_offline": "网关离线", "sensor_fault": "传感器故障", "test": "测试",
    "phone_in": "来电求助", "welfare_check": "关爱未接通",
}
OUTCOME_NAMES = {"genuine": "真实紧急", "accidental": "误按", "test": "测试",
                 "false_alarm": "误报", "other": "其他", "open": "未处理完毕"}
SECTIONS = ("概况", "报警", "探访", "关爱电话", "设备")
HEADER = ("栏目", "指标", "本月", "上月")

Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    metric: str
    this: Value
    previous: Value


def title(report: MonthlyReport) -> str:
    m = report.month
    return f"平安铃 月度服务报告 {m.year}年{m.month:02d}月 {report.area_name}"


def _pct(share: float | None) -> str | None:
    return None if share is None else f"{share * 100:.1f}%"


def rows(report: MonthlyReport) -> list[Row]:
    """Every figure as (section, metric, this month, previous month)."""
    a, b = report.this, report.previous
    out: list[Row] = []

    def add(section: str, metric: str, get: Any) -> None:
        out.append(Row(section, metric, get(a), get(b)))

    add("概况", "报警总数", lambda f: f.alarms)
    add("概况", "真实紧急", lambda f: f.by_outcome.get("genuine", 0))
    add("概况", "60秒内应答率", lambda f: _pct(f.answer.get("within_60s")))
    add("概况", "探访完成率", lambda f: _pct(f.visit_rate))
    add("概况", "关爱电话次数", lambda f: f.calls_made)
    add("概况", "设备在线率", lambda f: _pct(f.device_online_rate))
    add("概况", "新增服务对象", lambda f: f.residents_new)
    add("概况", "结束服务对象", lambda f: f.residents_ended)
    add("概况", "其中：迁出", lambda f: f.residents_moved)
    add("概况", "其中：去世", lambda f: f.residents_deceased)
    add("报警", "报警总数", lambda f: f.alarms)
    for t in sorted(set(a.by_type) | set(b.by_type)):
        add("报警", f"类型：{TYPE_NAMES.get(t, t)}", lambda f, t=t: f.by_type.get(t, 0))
    for o, name in OUTCOME_NAMES.items():
        add("报警", f"结果：{name}", lambda f, o=o: f.by_outcome.get(o, 0))
    add("报警", "需应答报警（P1/P2）", lambda f: f.answer.get("alarms"))
    add("报警", "已应答", lambda f: f.answer.get("answered"))
    add("报警", "60秒内应答率", lambda f: _pct(f.answer.get("within_60s")))
    add("报警", "180秒内应答率", lambda f: _pct(f.answer.get("within_180s")))
    add("报警", "升级次数", lambda f: f.escalations)
    kinds = sorted({k["kind"] for f in (a, b) for k in f.false_alarms_by_kind})
    for kind in kinds:
        add("报警", f"误报率：{kind}", lambda f, kind=kind: _pct(_kind(f, kind).get("rate")))
        add("报警", f"误报数：{kind}", lambda f, kind=kind: _kind(f, kind).get("false_alarms", 0))
    add("探访", "应探访人数", lambda f: f.visits_due)
    add("探访", "已探访人数", lambda f: f.visits_done)
    add("探访", "探访完成率", lambda f: _pct(f.visit_rate))
    add("探访", "上门未遇次数", lambda f: f.visits_not_home)
    for tag in sorted(set(a.visits_by_tag) | set(b.visits_by_tag)):
        add("探访", f"{tag}：应探访", lambda f, tag=tag: _tag(f, tag).get("due", 0))
        add("探访", f"{tag}：已探访", lambda f, tag=tag: _tag(f, tag).get("done", 0))
        add("探访", f"{tag}：完成率", lambda f, tag=tag: _pct(_tag(f, tag).get("rate")))
    add("关爱电话", "拨打次数", lambda f: f.calls_made)
    add("关爱电话", "接通次数", lambda f: f.calls_answered)
    add("关爱电话", "发现问题", lambda f: f.calls_concerns)
    add("关爱电话", "未接通", lambda f: f.calls_no_answer)
    add("设备", "已配对设备", lambda f: f.devices)
    add("设备", "本月有上报的设备", lambda f: f.devices_reporting)
    add("设备", "设备在线率", lambda f: _pct(f.device_online_rate))
    add("设备", "网关", lambda f: f.gateways)
    add("设备", "本月在线过的网关", lambda f: f.gateways_seen)
    add("设备", "更换电池", lambda f: f.battery_replacements)
    return out


def _tag(f: MonthFigures, tag: str) -> dict[str, Any]:
    return f.visits_by_tag.get(tag, {})


def _kind(f: MonthFigures, kind: str) -> dict[str, Any]:
    return next((k for k in f.false_alarms_by_kind if k["kind"] == kind), {})


def to_csv(report: MonthlyReport) -> bytes:
    """section, metric, this month, previous month: UTF-8 with a BOM so Excel reads Chinese."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for r in rows(report):
        w.writerow((r.section, r.metric, "" if r.this is None else r.this,
                    "" if r.previous is None else r.previous))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(report: MonthlyReport) -> bytes:
    """A workbook: 概况, 报警, 探访, 关爱电话, 设备; each sheet 指标 / 本月 / 上月."""
    wb = Workbook()
    all_rows = rows(report)
    for i, section in enumerate(SECTIONS):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = section
        ws.append([title(report)])
        ws.append(["指标", f"本月 {report.month:%Y-%m}", f"上月 {report.previous.month:%Y-%m}"])
        for r in all_rows:
            if r.section == section:
                ws.append([r.metric, r.this, r.previous])
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 16
        ws.column_dimensions["C"].width = 16
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       color: #222; font-size: 11pt; max-width: 180mm; margin: 0 auto; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 13pt; border-bottom: 1px solid #888; margin: 6mm 0 2mm; }
p.meta { text-align: center; color: #555; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: 1mm 2mm; }
th { background: #eee; }
td.n { text-align: right; }
.charts { display: flex; gap: 4mm; flex-wrap: wrap; }
section { page-break-inside: avoid; }
"""


def to_html(report: MonthlyReport) -> str:
    """A printable A4 page: the title, two charts, one table per section."""
    e = html.escape
    a, b = report.this, report.previous
    types = sorted(set(a.by_type) | set(b.by_type), key=lambda t: -a.by_type.get(t, 0))
    tags = sorted(set(a.visits_by_tag) | set(b.visits_by_tag))
    this_m, prev_m = f"{report.month:%Y-%m}", f"{b.month:%Y-%m}"
    charts = [
        bar_chart("报警类型（次）", [TYPE_NAMES.get(t, t) for t in types],
                  [(this_m, [a.by_type.get(t, 0) for t in types]),
                   (prev_m, [b.by_type.get(t, 0) for t in types])]),
        bar_chart("各类对象探访完成率（%）", tags,
                  [(this_m, [_rate(a, t) for t in tags]), (prev_m, [_rate(b, t) for t in tags])],
                  maximum=100.0),
    ]
    parts = [f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
             f"<title>{e(title(report))}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(title(report))}</h1>",
             f"<p class='meta'>统计期：{this_m}（对比上月 {prev_m}）</p>",
             f"<div class='charts'>{''.join(charts)}</div>"]
    all_rows = rows(report)
    for section in SECTIONS:
        parts.append(f"<section><h2>{e(section)}</h2><table><thead><tr><th>指标</th>"
                     f"<th>本月 {this_m}</th><th>上月 {prev_m}</th></tr></thead><tbody>")
        for r in all_rows:
            if r.section == section:
                parts.append(f"<tr><td>{e(r.metric)}</td><td class='n'>{_cell(r.this)}</td>"
                             f"<td class='n'>{_cell(r.previous)}</td></tr>")
        parts.append("</tbody></table></section>")
    parts.append("</body></html>")
    return "".join(parts)


def _rate(f: MonthFigures, tag: str) -> float:
    rate = f.visits_by_tag.get(tag, {}).get("rate")
    return 0.0 if rate is None else round(rate * 100, 1)


def _cell(v: Value) -> str:
    return "—" if v is None else html.escape(str(v))
