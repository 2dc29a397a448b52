"""Which rows a user may see: the regions they work for, as a ``psycopg.sql`` condition.

A user with regions sees those regions and everything under them (a 区 covers its 街道 and
their 社区, a 街道 its 社区); a user without any (supervisors, admins) sees everything. Writes
are confined the same way: a service checks the region a row is in, or is to be put in, with
``Scope.covers`` before it writes (``server.directory``), so a supervisor of one street can
neither see nor change another's homes. Every read or action limited to a user's
regions — alerts, the live feed, the directory, charts, reports — composes ``Scope.where``
into its query::

    scope = Scope.of(user)
    conn.execute(sql.SQL("SELECT … FROM homes h WHERE {} AND h.id = %s")
                 .format(scope.where("h.region_id")), (home_id,))

``where`` returns a self-contained ``sql.Composable``: the region ids travel in it as
``sql.Literal`` values (integers, nothing to escape), so it composes into any query, next to
that query's own ``%s`` parameters, with no parameter list to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    import psycopg

    from server.auth.users import User


@dataclass(frozen=True, slots=True)
class Scope:
    """The regions someone may see; ``regions`` None means every region."""

    regions: tuple[int, ...] | None

    @classmethod
    def of(cls, user: User) -> Scope:
        """The user's scope: their regions (with sub-regions), or everything."""
        return cls.everywhere() if user.sees_all_regions() else cls(tuple(sorted(user.regions)))

    @classmethod
    def everywhere(cls) -> Scope:
        """No limit: the system, supervisors, admins."""
        return cls(None)

    @property
    def unlimited(self) -> bool:
        return self.regions is None

    def where(self, column: str, *, unplaced: bool = False) -> sql.Composable:
        """The condition ``column`` (a region id, e.g. ``"a.region_id"``) is in this scope.

        ``unplaced``: rows without a region pass too. Alerts use it: an alert nobody could
        place (a gateway with no home yet) is in the unassigned queue every operator sees.
        """
        if self.regions is None:
            return sql.SQL("TRUE")
        col = sql.Identifier(*column.split("."))
        ids = sql.Literal(list(self.regions))
        mine = sql.SQL("{col} IN (WITH RECURSIVE covered(id) AS (SELECT id FROM regions "
                       "WHERE id = ANY ({ids}) UNION SELECT r.id FROM regions r JOIN covered c "
                       "ON r.parent_id = c.id) SELECT id FROM covered)").format(col=col, ids=ids)
        return sql.SQL("({} OR {} IS NULL)").format(mine, col) if unplaced else mine

    def covers(self, conn: psycopg.Connection[Any], region_id: int) -> bool:
        """Whether region ``region_id`` (which must exist) is in this scope."""
        if self.regions is None:
            return True
        row = conn.execute(sql.SQL("SELECT {} FROM (SELECT %s::int8 AS region_id) x").format(
            self.where("x.region_id")), (region_id,)).fetchone()
        return bool(row and row[0])


ALL = Scope.everywhere()
