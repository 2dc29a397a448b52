"""The gateway's prompts: what answers one (and what never does), the wearable's Immediate Alert,
windows, the commands that open them, and the edge detector asking the wearer itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from analytics import synth
from gateway.app import Gateway
from gateway.edge import CANCEL_WINDOW, EdgeFalls
from gateway.events import EventDraft
from gateway.prompts import AGAIN_S, Phase, Prompt, Prompts
from gateway.registry import Registry
from gateway.settings import GatewaySettings
from gateway.transports.ble import MemoryBle
from hardware import ble
from hardware.accel import quantize, scale_for_range
from hardware.ble import AlertLevel
from hardware.catalog import get_model
from kernel.contract import (
    AccBlock,
    Command,
    CommandOp,
    Event,
    EventType,
    PromptKind,
    answer_of,
    parse,
)
from kernel.placement import Placement
from tests.fixtures.waiting import eventually

BUTTON, CORD, BAND = "rf-0a1b2c3d", "rf-0a1b2c3e", "ble-c82e470a1b2d"
ADDRESS = "C8:2E:47:0A:1B:2D"


class Heard:
    """A recording announcer (the gateway's speaker)."""

    def __init__(self) -> None:
        self.said: list[tuple[PromptKind, Phase]] = []

    def announce(self, prompt: Prompt, phase: Phase) -> None:
        self.said.append((prompt.kind, phase))


class Home:
    """A gateway's prompts over a real registry and the in-memory air, with a settable clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = 1000.0
        self.registry = Registry(tmp_path / "gw.sqlite3", clock=lambda: self.now)
        for uid, model in ((BUTTON, "PB-433"), (CORD, "PC-433"), (BAND, "WB-BLE")):
            self.registry.pair(uid, model)
        self.air = MemoryBle()
        self.band: list[bytes] = []
        self.air.on_write(ADDRESS, lambda uuid, data: self.band.append(data))
        self.emitted: list[EventDraft] = []
        self.heard = Heard()
        self.prompts = Prompts(self.air, self.registry, self.emit, Counter(), self.heard,
                               clock=lambda: self.now)

    def emit(self, draft: EventDraft) -> int:
        self.emitted.append(draft)
        return len(self.emitted)

    def press(self, device: str = BUTTON, kind: EventType = EventType.PRESS) -> EventDraft:
        self.prompts.emit(EventDraft(kind, device, data={"input": "main"}))
        return self.emitted[-1]

    def levels(self) -> list[AlertLevel]:
        return [ble.parse_alert_level(b) for b in self.band]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path)
    yield h
    h.prompts.stop()
    h.registry.close()


@contextlib.asynccontextmanager
async def connected(air: MemoryBle, address: str = ADDRESS) -> AsyncIterator[None]:
    """The gateway streams from the wearable (a write needs a connection, as on a real adapter)."""
    task = asyncio.create_task(air.stream(address, [ble.ACCEL_CHAR], lambda *_: None))
    await eventually(lambda: air.connected(address), what="the BLE link")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fall_prompt(window_s: float = 30.0, ref: str = "srv:7") -> Prompt:
    return Prompt(PromptKind.FALL, ref, (BAND,), AlertLevel.HIGH, window_s)


async def test_a_press_answers_the_prompt_once_and_the_wearable_stops(home: Home) -> None:
    async with connected(home.air):
        await home.prompts.ask(fall_prompt())
        assert home.levels() == [AlertLevel.HIGH]
        home.now += 8.25
        answered = home.press()
        await eventually(lambda: home.levels() == [AlertLevel.HIGH, AlertLevel.NONE],
                         what="the band told to stop")
        again = home.press()
    assert answer_of(answered.data) is not None
    assert answered.type == EventType.PRESS, "the press stays a press: stored, sent, shown"
    assert answered.data == {"input": "main", "answers": "fall", "prompt": "srv:7",
                             "after_s": 8.2}
    assert again.data == {"input": "main"}, "the next press is a panic, as always"
    assert home.heard.said == [(PromptKind.FALL, Phase.ASK), (PromptKind.FALL, Phase.ANSWERED)]
    assert home.prompts.open == []


async def test_long_presses_pull_cords_and_strangers_never_answer(home: Home) -> None:
    async with connected(home.air):
        await home.prompts.ask(fall_prompt())
        long = home.press(kind=EventType.LONG_PRESS)
        cord = home.press(CORD)
        stranger = home.press("rf-99999999")
        cancel = home.press(kind=EventType.CANCEL)
    assert [answer_of(d.data) for d in (long, cord, stranger)] == [None, None, None]
    answered = answer_of(cancel.data)
    assert answered is not None
    assert answered.kind == PromptKind.FALL, "the cancel key answers too"


async def test_after_the_window_a_press_is_a_panic_and_the_wearable_is_told_to_stop(
        home: Home) -> None:
    async with connected(home.air):
        await home.prompts.ask(fall_prompt(window_s=0.05))
        await eventually(lambda: (PromptKind.FALL, Phase.EXPIRED) in home.heard.said,
                         what="the window to end")
        await eventually(lambda: home.levels()[-1:] == [AlertLevel.NONE], what="level 0")
        late = home.press()
    assert answer_of(late.data) is None
    assert home.prompts.counters["prompts_fall_unanswered"] == 1


async def test_the_clock_closes_a_window_even_before_its_timer(home: Home) -> None:
    async with connected(home.air):
        await home.prompts.ask(fall_prompt(window_s=30))
        home.now += 31
        assert answer_of(home.press().data) is None


async def test_the_newest_prompt_is_answered_and_a_second_press_is_a_panic(home: Home) -> None:
    async with connected(home.air):
        prewarn = Prompt(PromptKind.PREWARN, "prewarn-1", (BAND,), AlertLevel.MILD, 900,
                         {"resident": 7, "rule": "continuous_4h", "inactive_min": 225})
        await home.prompts.ask(prewarn)
        home.now += 5
        await home.prompts.ask(fall_prompt())
        first = answer_of(home.press().data)
        home.now += AGAIN_S - 1
        second = home.press()
        home.now += 2
        third = home.press()
    assert first is not None
    assert first.kind == PromptKind.FALL
    assert answer_of(second.data) is None, "'press again if you need help' holds"
    assert third.data["answers"] == "prewarn"
    assert (third.data["resident"], third.data["rule"]) == (7, "continuous_4h")
    assert home.levels() == [AlertLevel.MILD, AlertLevel.HIGH, AlertLevel.NONE, AlertLevel.NONE]


async def test_a_get_up_answers_the_wearers_fall_prompt_with_a_cancel(home: Home) -> None:
    async with connected(home.air):
        assert home.prompts.got_up(BAND) is None, "nothing asked: nothing answered"
        await home.prompts.ask(fall_prompt(ref="gw-x:inc:3"))
        same = await home.prompts.ask(fall_prompt(ref="srv:9"))  # the server found it too
        home.now += 12
        assert home.prompts.got_up(BAND) == 1
    assert same.ref == "gw-x:inc:3", "one prompt per fall of a wearable"
    (cancel,) = home.emitted
    assert (cancel.type, cancel.device) == (EventType.CANCEL, BAND)
    assert cancel.data == {"answers": "fall", "prompt": "gw-x:inc:3", "after_s": 12.0,
                           "by": "got_up"}


async def test_withdrawn_prompts_stop_and_unreachable_wearables_still_get_asked(
        home: Home) -> None:
    await home.prompts.ask(fall_prompt())  # the band is not connected: the write fails
    assert home.prompts.counters["wearer_alerts_failed"] == 1
    assert home.heard.said == [(PromptKind.FALL, Phase.ASK)], "the gateway still asks aloud"
    assert home.prompts.withdraw("srv:7") == 1
    assert answer_of(home.press().data) is None
    assert (PromptKind.FALL, Phase.WITHDRAWN) in home.heard.said


# ------------------------------------------------------------------------- via the gateway


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(GatewaySettings(id="gw-unit-0002", state_dir=tmp_path), MemoryBle(),
                      announcer=Heard())
    gateway.registry.pair(BUTTON, "PB-433")
    gateway.registry.pair(BAND, "WB-BLE")
    yield gateway
    gateway.prompts.stop()
    gateway.close()


def stored(gw: Gateway) -> list[Event]:
    return [parse(Event, item.payload) for item in gw.outbox.due(100)]


async def test_the_alert_wearer_command_opens_withdraws_or_refuses(gw: Gateway) -> None:
    def cmd(**args: str | int | float | bool) -> Command:
        return Command(id="c-1", op=CommandOp.ALERT_WEARER, args=args)

    too_late = await gw.commands.handle(cmd(device=BAND, level=2, ref="srv:1", until=1.0))
    bad = await gw.commands.handle(cmd(device=BAND, level=3, ref="srv:1"))
    stranger = await gw.commands.handle(cmd(device="ble-000000000001", level=2, ref="srv:1"))
    asked = await gw.commands.handle(cmd(device=BAND, level=2, ref="srv:1", window_s=20))
    assert [r.ok for r in (too_late, bad, stranger)] == [False, False, False]
    assert bad.detail.startswith("alert_wearer: level")
    assert (asked.ok, [p.ref for p in gw.prompts.open]) == (True, ["srv:1"])
    withdrawn = await gw.commands.handle(cmd(device=BAND, level=0, ref="srv:1"))
    assert (withdrawn.ok, gw.prompts.open) == (True, [])


async def test_a_prewarning_command_is_answered_by_a_press_from_the_serial_side(
        gw: Gateway) -> None:
    from hardware.frames import Frame, MsgType, input_data

    result = await gw.commands.handle(Command(id="prewarn-abc", op=CommandOp.PREWARN, args={
        "resident": 7, "devices": f"{BAND},ble-000000000001", "window_s": 600,
        "rule": "day_gap_3h", "inactive_min": 165}))
    assert result.ok
    assert result.detail == "pre-warning given for 600 s (1 wearable(s) alerted)"
    gw.rf.on_frame(Frame(MsgType.PRESS, 0x0A1B2C3D, 1, -60, 2900, input_data()))
    (press,) = stored(gw)
    assert (press.type, press.data["answers"], press.data["prompt"]) == (
        EventType.PRESS, "prewarn", "prewarn-abc")
    assert (press.data["resident"], press.data["inactive_min"]) == (7, 165)


def band_blocks(device: str, acc: np.ndarray, fs: float) -> list[AccBlock]:
    counts = quantize(acc, 8)
    n = round(fs)
    return [AccBlock(device, round((1000 + i) * 1e6), i, fs, scale_for_range(8),
                     counts[i * n:(i + 1) * n]) for i in range(len(counts) // n)]


async def test_the_edge_detector_maps_the_axes_raises_the_fall_then_asks_the_wearer(
        home: Home) -> None:
    """A second-source band (other axes, 25 Hz) finds exactly the fall a band in the training
    frame finds (unmapped: another confidence); the fall is in the outbox with its cancel
    window before the wearer is asked."""
    model = get_model("WB2-BLE")
    fs = float(model.sample_rate_hz or 25.0)
    rng = np.random.default_rng(12)
    fall, _ = synth.fall(fs, Placement.WRIST, rng, after_s=20.0)
    walk = synth.walking(fs, 20.0, synth.UPRIGHT[Placement.WRIST], rng, amp=0.8)
    train = np.concatenate([walk, fall])
    device_axes = train @ model.axis_matrix  # what the second-source band itself reports

    def edge_falls(model_id: str, acc: np.ndarray, prompts: Prompts | None = None,
                   ) -> list[EventDraft]:
        found: list[EventDraft] = []

        def emit(draft: EventDraft) -> int:
            found.append(draft)
            assert not (prompts and prompts.open), "the fall is stored before anyone is asked"
            return len(found)

        edge = EdgeFalls({BAND: get_model(model_id)}.get, emit, prompts=prompts,
                         event_id=lambda n: f"gw-unit:inc:{n}", cancel_s=30.0)
        for block in band_blocks(BAND, acc, fs):
            edge.on_block(block)
        return [d for d in found if d.type == EventType.FALL]

    async with connected(home.air):
        (mapped,) = edge_falls("WB2-BLE", device_axes, home.prompts)
        await eventually(lambda: home.levels() == [AlertLevel.HIGH], what="the band alerted")
    (trained,) = edge_falls("WB-BLE", train)
    (unmapped,) = edge_falls("WB-BLE", device_axes)
    same = ("t_impact", "confidence")
    assert [mapped.data[k] for k in same] == [trained.data[k] for k in same]
    assert unmapped.data["confidence"] != trained.data["confidence"], "the map was applied"
    assert mapped.data[CANCEL_WINDOW] == 30.0
    assert [p.ref for p in home.prompts.open] == ["gw-unit:inc:1"]
