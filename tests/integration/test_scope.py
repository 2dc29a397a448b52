"""server.scope.Scope: the regions a user sees, composed into queries with psycopg.sql."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from server.scope import Scope
from tests.fixtures.world import World


def _seen(conn: psycopg.Connection[Any], world: World, scope: Scope,
          unplaced: bool = False) -> set[int | None]:
    """Which of (street, community, other community, no region) pass the scope."""
    query = sql.SQL("SELECT v.region_id FROM (VALUES (%s::bigint), (%s), (%s), (NULL)) "
                    "v(region_id) WHERE {}").format(scope.where("v.region_id", unplaced=unplaced))
    rows = conn.execute(query, (world.street, world.community, world.other_community))
    return {r[0] for r in rows}


def test_a_community_operator_sees_their_community(world: World) -> None:
    with world.connect() as conn:
        scope = Scope.of(world.operator)
        assert scope.regions == (world.community,)
        assert _seen(conn, world, scope) == {world.community}
        assert _seen(conn, world, scope, unplaced=True) == {world.community, None}


def test_a_street_covers_its_communities(world: World) -> None:
    with world.connect() as conn:
        scope = Scope.of(world.operator2)
        assert _seen(conn, world, scope) == {world.street, world.community,
                                             world.other_community}


def test_a_supervisor_sees_everything(world: World) -> None:
    with world.connect() as conn:
        scope = Scope.of(world.supervisor)
        assert scope.unlimited
        assert scope.where("a.region_id").as_string(conn) == "TRUE"
        assert _seen(conn, world, scope, unplaced=True) == {
            world.street, world.community, world.other_community, None}


def test_no_regions_at_all_sees_only_unplaced_rows(world: World) -> None:
    with world.connect() as conn:
        assert _seen(conn, world, Scope(())) == set()
        assert _seen(conn, world, Scope(()), unplaced=True) == {None}


def test_the_column_is_quoted_as_an_identifier(world: World) -> None:
    with world.connect() as conn:
        text = Scope((1,)).where("a.region_id").as_string(conn)
        assert text.startswith('"a"."region_id" IN')
        assert "%" not in text  # composes next to a query's own %s parameters
