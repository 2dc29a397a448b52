"""Prompts: the gateway asks the elder something, and hears the answer.

A detected fall (the server's ``alert_wearer`` command, or the edge detector) or an inactivity
pre-warning (``prewarn``) opens a :class:`Prompt`: the announcer sounds or shows the question
and each wearable it names is told to alert (Immediate Alert: the Alert Level written over BLE),
for a window. Within the window the first short press — or cancel — of a paired panic button
answers the newest open prompt: that event goes to the outbox carrying the answer
(``contract.ANSWERS``, ``PROMPT``, ``AFTER_S``), and the server takes it as "I am all right"
rather than as a panic. A press is never swallowed and never turned from a panic into an answer
beyond that one press:

- a long press and a pull cord are always a panic, and so is every press outside any window
  and every press within ``AGAIN_S`` of an answer, whatever else is open (the announcer says
  "press again if you need help", and that must hold);
- the answering press is stored and sent like every event, and shown with what it answered.

An edge gateway's fall prompt is answered by a detected get-up too (:meth:`Prompts.got_up`: a
``cancel`` event of the wearable). When a prompt closes (answered, window over, or withdrawn by
the server) its wearables are told to stop alerting (level 0).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, Protocol, TextIO

from gateway.emitter import Emit
from gateway.errors import TransportError
from gateway.events import EventData, EventDraft
from gateway.registry import Registry
from gateway.transports.ble import BleLink
from hardware import ble
from hardware.ble import AlertLevel
from hardware.catalog import DeviceKind, Transport, parse_uid
from hardware.errors import CatalogError
from kernel.contract import AFTER_S, ANSWERS, PROMPT, EventType, PromptKind

log = logging.getLogger(__name__)

ANSWERING: Final = frozenset({EventType.PRESS, EventType.CANCEL})  # never a long press
ANSWERING_KINDS: Final = frozenset({DeviceKind.PANIC_BUTTON})  # never the bathroom pull cord
AGAIN_S: Final = 60.0  # after an answer, a press is a panic: "press again if you need help"


class Phase(StrEnum):
    ASK = "ask"
    ANSWERED = "answered"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(slots=True, eq=False)
class Prompt:
    """One question to the elder: what (``kind``), about what (``ref``: what the answer names),
    the wearables told to alert and how strongly, for how long."""

    kind: PromptKind
    ref: str
    devices: tuple[str, ...]
    level: AlertLevel
    window_s: float
    echo: EventData = field(default_factory=dict)  # fields the answer carries back
    opened: float = 0.0
    closed: Phase | None = None

    @property
    def until(self) -> float:
        return self.opened + self.window_s


class Announcer(Protocol):
    """Sounds or shows a prompt at the gateway: the simulated gateway prints it; a dongle with
    a speaker would say it (``PHRASES`` holds the words)."""

    def announce(self, prompt: Prompt, phase: Phase) -> None: ...


PHRASES: Final[dict[tuple[PromptKind, Phase], tuple[str, str]]] = {
    (PromptKind.FALL, Phase.ASK): ("检测到跌倒。如果您没事，请在 {s} 秒内按一下按钮。",
                                   "A fall was detected. If you are all right, press your "
                                   "button within {s} s."),
    (PromptKind.FALL, Phase.ANSWERED): ("已取消。接警员会给您回电话；如需帮助请再按一次。",
                                        "Cancelled. An operator will call you back; press "
                                        "again if you need help."),
    (PromptKind.FALL, Phase.EXPIRED): ("未取消：呼叫中心已收到跌倒报警。",
                                       "Not cancelled: the call centre has the fall alarm."),
    (PromptKind.FALL, Phase.WITHDRAWN): ("您已起身，跌倒报警已降级。",
                                         "You got up: the fall alarm is lowered."),
    (PromptKind.PREWARN, Phase.ASK): ("您好，您还好吗？请按一下按钮。",
                                      "Hello, are you all right? Please press your button."),
    (PromptKind.PREWARN, Phase.ANSWERED): ("已收到，谢谢。如需帮助请再按一次。",
                                           "Thank you. Press again if you need help."),
    (PromptKind.PREWARN, Phase.EXPIRED): ("无应答：已通知呼叫中心。",
                                          "No answer: the call centre is told."),
    (PromptKind.PREWARN, Phase.WITHDRAWN): ("预警已撤回。", "The pre-warning was withdrawn."),
}


def phrase(prompt: Prompt, phase: Phase) -> str:
    """The words for ``prompt`` at ``phase``: Chinese, then English in brackets."""
    zh, en = PHRASES[(prompt.kind, phase)]
    seconds = f"{prompt.window_s:g}"
    return f"{zh.format(s=seconds)} ({en.format(s=seconds)})"


class LogAnnouncer:
    """A gateway without a speaker: the prompt is logged."""

    def __init__(self, gw: str) -> None:
        self.gw = gw

    def announce(self, prompt: Prompt, phase: Phase) -> None:
        log.warning("gateway %s: %s prompt %s (%s): %s", self.gw, prompt.kind.value, phase.value,
                    prompt.ref, phrase(prompt, phase))


class PrintAnnouncer:
    """A gateway with a screen (the demo's simulated gateways): the prompt is printed."""

    MARK: Final = {Phase.ASK: "PROMPT", Phase.ANSWERED: "ANSWERED", Phase.EXPIRED: "NO ANSWER",
                   Phase.WITHDRAWN: "WITHDRAWN"}

    def __init__(self, prefix: str = "", out: TextIO | None = None) -> None:
        self.prefix = prefix
        self.out = out

    def announce(self, prompt: Prompt, phase: Phase) -> None:
        print(f"{self.prefix}{self.MARK[phase]} {phrase(prompt, phase)}",
              file=self.out or sys.stdout, flush=True)


class Prompts:
    """The open prompts of one gateway; ``emit`` is the RF intake's way into the outbox."""

    def __init__(self, link: BleLink | None, registry: Registry, emit: Emit,
                 counters: Counter[str], announcer: Announcer, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self.registry = registry
        self.inner = emit
        self.counters = counters
        self.announcer = announcer
        self.clock = clock
        self.open: list[Prompt] = []  # oldest first
        self._answered_at: float | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------------------- asking

    async def ask(self, prompt: Prompt) -> Prompt:
        """Open ``prompt``: announce it, alert its wearables, close it when its window ends.
        A wearable's fall already being asked about is not asked twice: that prompt is
        returned (the server and an edge gateway may both have found the fall)."""
        same = self._open_fall(prompt.devices) if prompt.kind == PromptKind.FALL else None
        if same is not None:
            self.counters["prompts_merged"] += 1
            return same
        prompt.opened = self.clock()
        self.open.append(prompt)
        self.counters[f"prompts_{prompt.kind.value}"] += 1
        self.announcer.announce(prompt, Phase.ASK)
        loop = asyncio.get_running_loop()
        self._timers[id(prompt)] = loop.call_later(prompt.window_s, self._expire, prompt)
        await self._alert(prompt.devices, prompt.level)
        return prompt

    def ask_soon(self, prompt: Prompt) -> None:
        """``ask`` from synchronous code running in the gateway's loop (the edge detector)."""
        self._spawn(self.ask(prompt))

    def withdraw(self, ref: str) -> int:
        """The server withdrew prompt ``ref`` (the wearer got up): stop asking. Returns how many
        open prompts it closed."""
        found = [p for p in self.open if p.ref == ref]
        for prompt in found:
            self._close(prompt, Phase.WITHDRAWN)
        return len(found)

    # ----------------------------------------------------------------------------- answers

    def emit(self, draft: EventDraft) -> int:
        """Commit ``draft`` (an ``Emit``); when it answers an open prompt it carries the answer,
        and the prompt closes once the event is in the outbox."""
        prompt = self._answered_by(draft)
        if prompt is None:
            return self.inner(draft)
        n = self.inner(replace(draft, data={**draft.data, **self._answer(prompt)}))
        self.counters[f"answers_{prompt.kind.value}"] += 1
        self._answered_at = self.clock()
        self._close(prompt, Phase.ANSWERED)
        return n

    def got_up(self, device: str) -> int | None:
        """The edge detector saw ``device``'s wearer get up: that answers their open fall
        prompt (a ``cancel`` event of the wearable); None when none is open."""
        prompt = self._open_fall((device,))
        if prompt is None or self.clock() > prompt.until:
            return None
        n = self.inner(EventDraft(EventType.CANCEL, device,
                                  data={**self._answer(prompt), "by": "got_up"}))
        self.counters["answers_got_up"] += 1
        self._close(prompt, Phase.ANSWERED)
        return n

    def _answered_by(self, draft: EventDraft) -> Prompt | None:
        """The newest open prompt a short press / cancel of a paired panic button answers."""
        if draft.type not in ANSWERING or not self.open:
            return None
        device = self.registry.devices.get(draft.device)
        if device is None or device.model.kind not in ANSWERING_KINDS:
            return None
        now = self.clock()
        if self._answered_at is not None and now - self._answered_at < AGAIN_S:
            self.counters["presses_after_an_answer"] += 1
            return None
        live = [p for p in self.open if now <= p.until]
        return live[-1] if live else None

    def _answer(self, prompt: Prompt) -> EventData:
        return {**prompt.echo, ANSWERS: prompt.kind.value, PROMPT: prompt.ref,
                AFTER_S: round(max(self.clock() - prompt.opened, 0.0), 1)}

    def _open_fall(self, devices: tuple[str, ...]) -> Prompt | None:
        found = [p for p in self.open if p.kind == PromptKind.FALL and set(p.devices) & {*devices}]
        return found[-1] if found else None

    # ----------------------------------------------------------------------------- closing

    def _expire(self, prompt: Prompt) -> None:
        self._timers.pop(id(prompt), None)
        if prompt.closed is None:
            self.counters[f"prompts_{prompt.kind.value}_unanswered"] += 1
            self._close(prompt, Phase.EXPIRED)

    def _close(self, prompt: Prompt, phase: Phase) -> None:
        if prompt.closed is not None:
            return
        prompt.closed = phase
        self.open.remove(prompt)
        timer = self._timers.pop(id(prompt), None)
        if timer is not None:
            timer.cancel()
        self.announcer.announce(prompt, phase)
        self._spawn(self._alert(prompt.devices, AlertLevel.NONE))

    async def _alert(self, devices: tuple[str, ...], level: AlertLevel) -> None:
        """Write the Alert Level of each wearable; one that cannot be reached is logged and
        counted (the announcer still asked, and a press still answers)."""
        payload = ble.encode_alert_level(level)
        for uid in devices:
            try:
                transport, address = parse_uid(uid)
                if transport is not Transport.BLE or self.link is None:
                    raise TransportError(f"{uid} is not a BLE wearable of this gateway")
                await self.link.write(str(address), ble.ALERT_LEVEL, payload)
                self.counters["wearer_alerts_written"] += 1
            except (TransportError, CatalogError) as exc:
                self.counters["wearer_alerts_failed"] += 1
                log.warning("prompt: could not write alert level %d to %s: %s", level, uid, exc)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters["prompt_errors"] += 1
            log.error("prompt task failed", exc_info=task.exception())

    def stop(self) -> None:
        """The gateway stops: no timers or writes outlive it."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
