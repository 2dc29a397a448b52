"""The live feed reads a batch of changes with their visible summaries in a bounded number of
queries, however many changes the batch holds (counted with a counting cursor factory)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from server.alerts import service
from server.alerts.context import gateway_context
from server.alerts.feed import safe_head
from server.alerts.model import SYSTEM, AlertType, Priority
from server.api import live
from server.directory import GatewayIn, HomeIn, add_gateway, add_home
from server.scope import Scope
from tests.fixtures.world import GATEWAY, World

MAX_QUERIES_PER_BATCH = 2


class CountingCursor(psycopg.Cursor[Any]):
    """Counts every statement run through it on its connection's ``queries``."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.connection.queries += 1  # type: ignore[attr-defined]
        return super().execute(*args, **kwargs)


class OneConnection:
    """A pool of one connection, as ``live._changes`` uses its pool."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        yield self.conn


@pytest.fixture
def counted(world: World) -> Iterator[psycopg.Connection[Any]]:
    with world.connect(cursor_factory=CountingCursor) as conn:
        conn.queries = 0  # type: ignore[attr-defined]
        yield conn


def many_changes(world: World, n: int) -> tuple[int, set[int], set[int]]:
    """``n`` alerts in the world's community, ``n`` in the other community, one unplaced, each
    with a note; returns (the feed head before, community alert ids, other alert ids)."""
    with world.connect() as conn:
        start = safe_head(conn)
        other_home = add_home(conn, HomeIn(region_id=world.other_community, address="和平路 1 号"))
        add_gateway(conn, GatewayIn(id="gw-peace-0001", home_id=other_home))
        add_gateway(conn, GatewayIn(id="gw-spare-0001"))
        ours: set[int] = set()
        theirs: set[int] = set()
        for i in range(n):
            for k, (gw, ids) in enumerate(((GATEWAY, ours), ("gw-peace-0001", theirs))):
                device = f"rf-{k}{i:07x}"  # a low battery per device: an alert each
                ctx = replace(gateway_context(conn, gw), device=device)
                alert = service.raise_alert(conn, AlertType.LOW_BATTERY, Priority.P3, ctx).alert
                service.note(conn, SYSTEM, alert.id, "checked", scope=Scope.everywhere())
                ids.add(alert.id)
        service.raise_alert(conn, AlertType.GATEWAY_OFFLINE, Priority.P3,
                            gateway_context(conn, "gw-spare-0001"))
    return start, ours, theirs


def test_a_batch_is_one_bounded_read_whatever_its_size(
        world: World, counted: psycopg.Connection[Any]) -> None:
    start, ours, theirs = many_changes(world, 20)
    seq, changes, full = live._changes(OneConnection(counted), Scope.of(world.operator), start)
    assert counted.queries <= MAX_QUERIES_PER_BATCH  # type: ignore[attr-defined]
    assert not full
    seen = {c["alert_id"] for c in changes}
    assert ours <= seen, "the community's alerts"
    assert not seen & theirs, "not the other community's"
    assert len(seen - ours) == 1, "and the unplaced one"
    assert len(changes) == 2 * len(ours) + 1  # open + note each; the unplaced one's open
    assert all(c["alert"]["id"] == c["alert_id"] for c in changes)
    assert all(c["alert"]["version"] == 2 for c in changes if c["alert_id"] in ours), \
        "each summary as it is now"
    assert seq == max(c["seq"] for c in changes), "the cursor moves past what was read"


def test_full_batches_page_through_the_feed_with_bounded_reads(
        world: World, counted: psycopg.Connection[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    start, ours, theirs = many_changes(world, 10)
    monkeypatch.setattr(live, "BATCH", 7)
    pool, scope, seq = OneConnection(counted), Scope.of(world.operator2), start  # the street
    got: list[dict[str, Any]] = []
    batches = 0
    while True:
        counted.queries = 0  # type: ignore[attr-defined]
        seq, changes, full = live._changes(pool, scope, seq)
        assert counted.queries <= MAX_QUERIES_PER_BATCH  # type: ignore[attr-defined]
        got += changes
        batches += 1
        if not full:
            break
    assert batches == 6  # 41 changes in batches of 7
    assert [c["seq"] for c in got] == list(range(start + 1, start + 42)), "none lost or repeated"
    assert {c["alert_id"] for c in got} >= ours | theirs, "a street covers its communities"
