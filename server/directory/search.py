"""Resident search: by name (characters, pinyin, pinyin initials), phone, address, device id.

What a name or phone number can be searched by is computed when it is written
(``residents.search_terms``, a GIN-indexed array) so a search is one index lookup: every
run of the name's characters (秀英 finds 王秀英), the pinyin of every run of syllables and each
prefix of it (wang, wangxiu, xiuying), and their initials (wxy, xy); a surname with several
readings gives each (曾: zeng, ceng). Phone numbers (the resident's and their contacts', so a
relative calling in finds the resident) give every prefix from 3 digits and every suffix from
4 (the last four digits). Addresses and device ids are matched as text within the scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pypinyin import Style, lazy_pinyin, pinyin

from server.directory.records import fetch
from server.scope import Scope

SEARCH_LIMIT = 200
MIN_PREFIX = 2  # pinyin prefixes shorter than this would match half the directory
_HAN = re.compile(r"[\u3400-\u9fff]")
_NOT_DIGIT = re.compile(r"\D")


def normalise(text: str) -> str:
    """A query as terms are stored: lower case, no spaces, no dashes in phone numbers."""
    text = re.sub(r"\s+", "", text.lower())
    return _NOT_DIGIT.sub("", text) if re.fullmatch(r"[\d\-+() ]{3,}", text) else text


def _readings(name: str) -> list[list[str]]:
    """Syllables of a Han name: the phrase-aware reading, and other readings of the surname."""
    han = "".join(_HAN.findall(name))
    if not han:
        return []
    common = lazy_pinyin(han)
    out = [common]
    for surname in pinyin(han[0], style=Style.NORMAL, heteronym=True)[0]:
        if surname != common[0]:
            out.append([surname, *common[1:]])
    return out


def name_terms(name: str) -> set[str]:
    """Every term a name is found by."""
    clean = re.sub(r"\s+", "", name.lower())
    terms = {clean[i:j] for i in range(len(clean)) for j in range(i + 1, len(clean) + 1)}
    for syllables in _readings(name):
        for i in range(len(syllables)):
            for j in range(i + 1, len(syllables) + 1):
                span = syllables[i:j]
                terms.add("".join(s[0] for s in span))
                full = "".join(span)
                terms.update(full[:k] for k in range(MIN_PREFIX, len(full) + 1))
    return terms


def phone_terms(phone: str) -> set[str]:
    digits = _NOT_DIGIT.sub("", phone)
    return ({digits[:k] for k in range(3, len(digits) + 1)}
            | {digits[-k:] for k in range(4, len(digits) + 1)})


def terms(name: str, phones: Iterable[str]) -> list[str]:
    found = name_terms(name)
    for phone in phones:
        found |= phone_terms(phone)
    return sorted(found)


_SOURCES = """
SELECT r.id, r.name, r.phone, coalesce((SELECT array_agg(p) FROM contacts c, unnest(c.phones) p
                                         WHERE c.resident_id = r.id AND c.active), '{}')
FROM residents r WHERE r.id = ANY (%s)
"""


def refresh_terms(conn: psycopg.Connection[Any], resident_ids: Sequence[int]) -> None:
    """Recompute the residents' search terms from what is stored (in the caller's
    transaction, after its change)."""
    rows = conn.execute(_SOURCES, (list(resident_ids),)).fetchall()
    with conn.cursor() as cur:
        cur.executemany("UPDATE residents SET search_terms = %s WHERE id = %s", [
            (terms(name, [phone or "", *contact_phones]), rid)
            for rid, name, phone, contact_phones in rows])


@dataclass(frozen=True, slots=True)
class ResidentListing:
    """A line of the resident search."""

    id: int
    name: str
    care_tags: list[str]
    home_id: int
    address: str
    status: str
    away_until: Any


def _listed(scope: Scope, include_inactive: bool,
            tags: Sequence[str]) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions every list of residents shares: scope, status, care tags (all of)."""
    conds: list[sql.Composable] = [scope.where("h.region_id")]
    params: list[Any] = []
    if not include_inactive:
        conds.append(sql.SQL("r.status NOT IN ('moved', 'deceased')"))
    if tags:
        conds.append(sql.SQL("r.care_tags @> %s::text[]"))
        params.append(list(tags))
    return conds, params


def search_residents(conn: psycopg.Connection[Any], scope: Scope, text: str = "", *,
                     include_inactive: bool = False,
                     tags: Sequence[str] = ()) -> list[ResidentListing]:
    """Residents in scope found by ``text`` (any of the above; empty: everyone) and carrying
    every one of ``tags``, by name, at most SEARCH_LIMIT; moved and deceased residents only
    with ``include_inactive``."""
    q = normalise(text)
    conds, params = _listed(scope, include_inactive, tags)
    if q:
        conds.append(sql.SQL(
            "(r.search_terms @> ARRAY[%s] OR h.address ILIKE %s OR EXISTS (SELECT 1 FROM "
            "devices d WHERE d.resident_id = r.id AND d.uid ILIKE %s))"))
        raw = text.strip()
        like = "%" + raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [q, like, like]
    return fetch(conn, ResidentListing, sql.SQL(
        "SELECT r.id, r.name, r.care_tags, h.id AS home_id, h.address, r.status, r.away_until "
        "FROM residents r JOIN homes h ON h.id = r.home_id WHERE {} ORDER BY r.name, r.id "
        "LIMIT {}").format(sql.SQL(" AND ").join(conds), SEARCH_LIMIT), params)


def tag_counts(conn: psycopg.Connection[Any], scope: Scope, *,
               include_inactive: bool = False) -> dict[str, int]:
    """How many residents in scope carry each care tag (tags nobody carries: absent), and
    ``""``: how many residents in all."""
    conds, params = _listed(scope, include_inactive, ())
    where = sql.SQL(" AND ").join(conds)
    rows = conn.execute(sql.SQL(
        "SELECT t, count(*) FROM residents r JOIN homes h ON h.id = r.home_id, "
        "unnest(r.care_tags) t WHERE {} GROUP BY t UNION ALL SELECT '', count(*) FROM "
        "residents r JOIN homes h ON h.id = r.home_id WHERE {}").format(where, where),
        params * 2).fetchall()
    return {tag: int(n) for tag, n in rows}
