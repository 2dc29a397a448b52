"""A resident's rights over their data: ``export`` (everything held about them, as JSON, and
``summary``, a readable zh-CN text of it) and ``erase`` (anonymise a resident who left).

Both are admin actions, each leaves an access-log row and an audit row. Erasure keeps what
must be kept — the alerts (times, type, priority, outcome) and the audit rows — with the
personal fields removed; the audit trails are append-only, and erasure is their one
exception (``pinganling.erasure`` set for its own transaction, which the trigger checks).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from server.alerts.model import Actor
from server.directory import audit
from server.directory.access import Access, accessed
from server.errors import Conflict, NotFound
from server.privacy import access_log, consent
from server.store.config import ROLLUPS, TIME_SERIES
from server.store.timescale import extension_schema

ERASED = "已删除"
GONE = ("moved", "deceased")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _rows(conn: psycopg.Connection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_plain(r) for r in cur.execute(query, params).fetchall()]


def _resident(conn: psycopg.Connection[Any], resident_id: int, *,
              lock: bool = False) -> dict[str, Any]:
    found = _rows(conn, "SELECT * FROM residents WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (resident_id,))
    if not found:
        raise NotFound(f"no resident {resident_id}")
    found[0].pop("search_terms", None)
    return found[0]


def export(conn: psycopg.Connection[Any], actor: Actor, resident_id: int) -> dict[str, Any]:
    """Everything held about the resident: record, contacts, home, devices (with how much
    telemetry is stored), alerts with their actions and dispatches, consents, the access-log
    rows about them, the directory history and notes, visits and care calls. Logged (access
    log, audit trail)."""
    with conn.transaction():
        record = _resident(conn, resident_id)
        home_id = record["home_id"]
        devices = _rows(conn, "SELECT uid, model, kind, label, gateway_id, paired_at, last_seen "
                        "FROM devices WHERE resident_id = %s ORDER BY uid", (resident_id,))
        uids = [d["uid"] for d in devices]
        alerts = _rows(conn, "SELECT id, type, priority, state, title, details, opened_at, "
                       "closed_at, outcome FROM alerts WHERE resident_id = %s ORDER BY id",
                       (resident_id,))
        ids = [a["id"] for a in alerts]
        out = {
            "exported_at": _plain(conn.execute("SELECT now()").fetchone()[0]),  # type: ignore[index]
            "resident": record,
            "contacts": _rows(conn, "SELECT id, name, relation, phones, call_order, "
                              "availability, has_key, active FROM contacts WHERE resident_id "
                              "= %s ORDER BY active DESC, call_order, id", (resident_id,)),
            "home": next(iter(_rows(conn, "SELECT id, address, key_safe_code, notes, "
                                    "region_id, active FROM homes WHERE id = %s", (home_id,))),
                         None),
            "devices": devices,
            "telemetry": {t: conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE device = ANY (%s)").format(
                    sql.Identifier(t)), (uids,)).fetchone()[0]  # type: ignore[index]
                for t in TIME_SERIES},
            "alerts": alerts,
            "alert_actions": _rows(conn, "SELECT alert_id, ts, actor, action, from_state, "
                                   "to_state, note, data FROM alert_audit WHERE alert_id = "
                                   "ANY (%s) ORDER BY alert_id, id", (ids,)),
            "dispatches": _rows(conn, "SELECT alert_id, kind, target, status, created_at FROM "
                                "dispatches WHERE alert_id = ANY (%s) ORDER BY id", (ids,)),
            "consents": [_plain(asdict(c)) for c in consent.ledger(conn, resident_id)],
            "access_log": [_plain(asdict(r)) for r in access_log.search(
                conn, access_log.Search(resident_id=resident_id, limit=10_000))],
            "history": [_plain(asdict(e)) for e in audit.history(conn, resident_id)],
            "inactivity_limits": _rows(conn, "SELECT days_seen, fitted_at, limit_min FROM "
                                       "inactivity_limits WHERE resident_id = %s",
                                       (resident_id,)),
            "visits": _rows(conn, "SELECT id, visitor, visitor_kind, arrived_at, at_home, met, "
                            "health, living, mood, safety, needs, follow_up, follow_up_note, "
                            "photo_url FROM visits WHERE resident_id = %s ORDER BY arrived_at",
                            (resident_id,)),
            "visit_tasks": _rows(conn, "SELECT id, kind, month, due_on, priority, reason, note, "
                                 "status FROM visit_tasks WHERE resident_id = %s ORDER BY id",
                                 (resident_id,)),
            "care_calls": _rows(conn, "SELECT id, caller, called_at, outcome, notes, concern, "
                                "next_on FROM care_calls WHERE resident_id = %s ORDER BY "
                                "called_at", (resident_id,)),
        }
        accessed(conn, Access(actor, "export", reason="subject access export"), ("export",),
                 [resident_id], home_id)
        audit.record(conn, actor, "resident", resident_id, "export", {},
                     home_id=home_id, residents=[resident_id], note="subject access export")
    return out


def summary(data: dict[str, Any]) -> str:
    """A readable zh-CN text of an export."""
    r, home = data["resident"], data["home"] or {}
    sex = {"F": "女", "M": "男"}.get(r.get("sex") or "", "未记录")
    lines = [f"个人信息导出（{data['exported_at']}）", "",
             f"姓名：{r['name']}", f"性别：{sex}", f"出生日期：{r.get('birth_date') or '未记录'}",
             f"电话：{r.get('phone') or '未记录'}", f"状态：{r['status']}",
             f"照护标签：{'、'.join(r['care_tags']) or '无'}",
             f"疾病：{'、'.join(r['conditions']) or '无'}",
             f"用药：{'、'.join(r['medications']) or '无'}",
             f"过敏：{'、'.join(r['allergies']) or '无'}",
             f"住址：{home.get('address', '未记录')}", "", "紧急联系人："]
    lines += [f"  {c['name']}（{c['relation'] or '关系未记录'}）：{'、'.join(c['phones'])}"
              for c in data["contacts"]] or ["  无"]
    lines += ["", "设备："]
    lines += [f"  {d['uid']} {d['model']} {d['label']}" for d in data["devices"]] or ["  无"]
    lines += [f"存储的传感数据条数：{sum(data['telemetry'].values())}", "", "同意记录："]
    lines += [f"  {c['scope']}：{c['granted_by_name']} 于 {c['granted_at'][:10]} 授权"
              + (f"，{c['withdrawn_at'][:10]} 撤回" if c["withdrawn_at"] else "")
              for c in data["consents"]] or ["  无"]
    lines += ["", f"告警：{len(data['alerts'])} 条"]
    lines += [f"  #{a['id']} {a['opened_at'][:16]} {a['type']} {a['priority']} {a['state']}"
              for a in data["alerts"]]
    lines += ["", f"上门探访：{len(data.get('visits', []))} 次"]
    lines += [f"  {v['arrived_at'][:16]} {v['visitor']} {'在家' if v['at_home'] else '不在家'}"
              for v in data.get("visits", [])]
    lines += ["", f"关爱电话：{len(data.get('care_calls', []))} 次"]
    lines += [f"  {c['called_at'][:16]} {c['caller']} {c['outcome']}"
              for c in data.get("care_calls", [])]
    lines += ["", f"敏感信息查看记录：{len(data['access_log'])} 条"]
    lines += [f"  {a['ts'][:16]} {a['user_name']}（{a['role']}）{a['purpose']}："
              f"{'、'.join(a['fields'])}" for a in data["access_log"]]
    lines += ["", f"档案修改记录：{len(data['history'])} 条"]
    return "\n".join(lines) + "\n"


def erase(conn: psycopg.Connection[Any], actor: Actor, resident_id: int) -> None:
    """Anonymise a resident who moved away or died (Conflict otherwise): personal fields
    replaced ("已删除") or emptied, contacts deleted, the telemetry of their devices deleted,
    their alerts and audit rows, visits and care calls kept without personal fields (the
    visiting and calling statistics still count them); one audit row of its own."""
    with conn.transaction():
        record = _resident(conn, resident_id, lock=True)
        if record["status"] not in GONE:
            raise Conflict(f"resident {resident_id} is {record['status']}: only a resident "
                           "who moved away or died can be erased")
        if record["name"] == ERASED:
            raise Conflict(f"resident {resident_id} is already erased")
        home_id = record["home_id"]
        conn.execute("SELECT set_config('pinganling.erasure', 'on', true)")
        conn.execute(
            "UPDATE residents SET name = %s, sex = NULL, birth_date = NULL, phone = NULL, "
            "care_tags = '{}', conditions = '{}', medications = '{}', allergies = '{}', "
            "languages = '{}', photo_url = NULL, status_note = '', vital_limits = '{}', "
            "inactivity_rules = '{}', search_terms = '{}', updated_at = now() WHERE id = %s",
            (ERASED, resident_id))
        conn.execute("DELETE FROM contacts WHERE resident_id = %s", (resident_id,))
        conn.execute("DELETE FROM inactivity_limits WHERE resident_id = %s", (resident_id,))
        conn.execute("UPDATE consents SET granted_by_name = %s, withdrawn_by = CASE WHEN "
                     "withdrawn_by IS NULL THEN NULL ELSE %s END WHERE resident_id = %s",
                     (ERASED, ERASED, resident_id))
        conn.execute("UPDATE inform_tasks SET reason = '' WHERE resident_id = %s",
                     (resident_id,))
        # what visitors found and callers heard is about the person: kept as counts only
        conn.execute("UPDATE visits SET met = '', health = '', living = '', mood = '', "
                     "safety = '', needs = '', follow_up_note = '', photo_url = NULL "
                     "WHERE resident_id = %s", (resident_id,))
        conn.execute("UPDATE visit_tasks SET note = '' WHERE resident_id = %s", (resident_id,))
        conn.execute("UPDATE care_calls SET notes = '', concern = '' WHERE resident_id = %s",
                     (resident_id,))
        conn.execute("UPDATE care_call_tasks SET status = 'cancelled', closed_at = now() "
                     "WHERE resident_id = %s AND status = 'open'", (resident_id,))
        uids = [r[0] for r in conn.execute("SELECT uid FROM devices WHERE resident_id = %s",
                                           (resident_id,)).fetchall()]
        _erase_telemetry(conn, uids)
        conn.execute("UPDATE devices SET resident_id = NULL, label = '' WHERE resident_id = %s",
                     (resident_id,))
        alerts = [r[0] for r in conn.execute("SELECT id FROM alerts WHERE resident_id = %s",
                                             (resident_id,)).fetchall()]
        conn.execute("UPDATE alerts SET title = %s, details = '{}' WHERE id = ANY (%s)",
                     (ERASED, alerts))
        conn.execute("UPDATE alert_audit SET note = CASE WHEN note = '' THEN '' ELSE %s END, "
                     "data = '{}' WHERE alert_id = ANY (%s)", (ERASED, alerts))
        conn.execute("UPDATE dispatches SET target = CASE WHEN target = '' THEN '' ELSE %s "
                     "END WHERE alert_id = ANY (%s)", (ERASED, alerts))
        conn.execute("UPDATE directory_audit SET changes = '{}', note = '' WHERE "
                     "residents @> ARRAY[%s]::int8[] AND entity IN ('resident', 'contact')",
                     (resident_id,))
        if conn.execute("SELECT 1 FROM residents WHERE home_id = %s AND id <> %s AND name <> %s",
                        (home_id, resident_id, ERASED)).fetchone() is None:
            conn.execute("UPDATE homes SET address = %s, key_safe_code = NULL, notes = '', "
                         "updated_at = now() WHERE id = %s", (ERASED, home_id))
            conn.execute("UPDATE directory_audit SET changes = '{}', note = '' WHERE "
                         "entity = 'home' AND entity_id = %s", (home_id,))
        conn.execute("SELECT set_config('pinganling.erasure', 'off', true)")
        accessed(conn, Access(actor, "erasure", reason="subject erasure"), ("erase",),
                 [resident_id], home_id)
        audit.record(conn, actor, "resident", resident_id, "erase", {},
                     home_id=home_id, residents=[resident_id], note="personal data erased")
    refresh_rollups(conn)  # their aggregated readings too (TimescaleDB)


def refresh_rollups(conn: psycopg.Connection[Any]) -> None:
    """TimescaleDB: recompute the continuous aggregates over all time, so rows deleted from
    their sources leave them too (a refresh policy covers recent days only). A procedure that
    runs outside any transaction block: ``conn`` must be in autocommit, and not in a
    transaction. Nothing to do on plain PostgreSQL (its rollups are tables, deleted from)."""
    ext = extension_schema(conn)
    if ext is None:
        return
    for rollup in ROLLUPS:
        row = conn.execute("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)",
                           (rollup,)).fetchone()
        if row is not None and row[0] == "v":
            conn.execute(sql.SQL("CALL {}.refresh_continuous_aggregate({}, NULL, NULL)").format(
                sql.Identifier(ext), sql.Literal(rollup)))


def _erase_telemetry(conn: psycopg.Connection[Any], uids: list[str]) -> None:
    """The devices' stored readings (and, on plain PostgreSQL, their rollups; TimescaleDB's
    continuous aggregates are refreshed once the erasure has committed: ``refresh_rollups``)."""
    if not uids:
        return
    for table in TIME_SERIES:
        conn.execute(sql.SQL("DELETE FROM {} WHERE device = ANY (%s)").format(
            sql.Identifier(table)), (uids,))
    for rollup in ROLLUPS:
        row = conn.execute("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)",
                           (rollup,)).fetchone()
        if row is not None and row[0] in ("r", "p"):
            conn.execute(sql.SQL("DELETE FROM {} WHERE device = ANY (%s)").format(
                sql.Identifier(rollup)), (uids,))
