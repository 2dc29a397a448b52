"""Region scope: which rows a user may see, as a condition composed with ``psycopg.sql``.

A user with regions sees those regions and, for a street (街道), its communities (社区); a user
without regions (an admin, a supervisor of the whole service) sees everything::

    scope = Scope.of(user)
    conn.execute(sql.SQL("SELECT … FROM homes h WHERE {}").format(scope.where("h.region_id")))

The region ids are bound into the condition as literals, so it composes with ``%s``
parameters of the rest of the query and never passes through an f-string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg import sql

if TYPE_CHECKING:
    from server.auth.users import User


@dataclass(frozen=True, slots=True)
class Scope:
    """The regions a user sees (``None``: all of them)."""

    regions: tuple[int, ...] | None

    @classmethod
    def of(cls, user: User) -> Scope:
        return cls(None if user.sees_all_regions() else tuple(user.regions))

    def where(self, column: str, *, unplaced: bool = False) -> sql.Composable:
        """The condition on ``column`` (``"alias.column"`` or ``"column"``) of a region id.

        ``unplaced``: rows whose region is NULL pass too (alerts nobody could place are in the
        unassigned queue every operator sees; gateways without a home yet).
        """
        if self.regions is None:
            return sql.SQL("TRUE")
        ids = sql.Literal(list(self.regions))
        mine = sql.SQL("{col} IN (SELECT id FROM regions WHERE id = ANY ({ids}) "
                       "OR parent_id = ANY ({ids}))").format(col=_column(column), ids=ids)
        if unplaced:
            return sql.SQL("({mine} OR {col} IS NULL)").format(mine=mine, col=_column(column))
        return mine


def _column(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))
