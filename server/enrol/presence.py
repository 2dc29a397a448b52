"""Presence's part in a rotation: a gateway online under its new identity finishes it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kernel.contract import Status
from server.enrol.broker import BrokerAccess, BrokerUnavailable
from server.enrol.service import confirm_login
from server.jobs import Db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationWatch:
    """Called with every status presence reads; acts on ``online`` ones naming a user."""

    db: Db
    access: BrokerAccess

    async def __call__(self, gateway: str, status: Status) -> None:
        if status.state != "online" or not status.user:
            return
        user = status.user
        try:
            if await self.db.run(lambda c: confirm_login(c, self.access, gateway, user)):
                log.info("gateway %s is online as %s: its rotation is done", gateway, user)
        except BrokerUnavailable as exc:  # the old identity stays until the next status
            log.warning("gateway %s: the rotation to %s is not finished: %s", gateway, user, exc)
