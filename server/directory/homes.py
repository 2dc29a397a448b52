"""Homes: an address in a community, its key safe (shown only to responders) and notes."""

from __future__ import annotations

from typing import Any

import psycopg
from pydantic import Field

from server.api.types import Id, Text
from server.directory.records import Input, create, insert


class HomeIn(Input):
    region_id: Id
    address: Text = Field(min_length=1, max_length=200)
    key_safe_code: Text | None = Field(default=None, max_length=40)
    notes: Text = Field(default="", max_length=4000)


def add_home(conn: psycopg.Connection[Any], h: HomeIn) -> int:
    return int(create(conn, h, lambda c: insert(c, "homes", h.model_dump())))
