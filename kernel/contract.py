"""The gateway ⇄ server contract: topic tree, payload schemas, schema version.

This is the only place a topic string or a payload field is spelled out. Gateway, server,
simulator, tools and tests all import it.

Topic tree (``root`` defaults to ``pal/v1``; tests give each run its own root)::

    {root}/gw/{gateway}/up/status       retained JSON Status; the LWT publishes state=offline
    {root}/gw/{gateway}/up/event        JSON Event, QoS 1, acknowledged by the server (Ack)
    {root}/gw/{gateway}/up/acc          binary AccBlock (≈1 s of int16 x/y/z samples)
    {root}/gw/{gateway}/up/vitals       JSON Vitals (heart rate, SpO2 readings)
    {root}/gw/{gateway}/up/heartbeat    JSON Heartbeat (gateway health)
    {root}/gw/{gateway}/up/cmd_result   JSON CommandResult
    {root}/gw/{gateway}/down/ack        JSON Ack: event numbers the server has committed
    {root}/gw/{gateway}/down/config     retained JSON GatewayConfig
    {root}/gw/{gateway}/down/cmd        JSON Command

A gateway writes only ``{root}/gw/{its id}/up/#`` and reads only ``{root}/gw/{its id}/down/#``;
the broker confines each identity to what it needs (``Topics.gateway_grants``,
``Topics.service_grants``: the dynamic-security plugin's ACLs; ``Topics.acl``: the same for a
Mosquitto ACL file).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from kernel.storable import (
    INT32,
    INT64,
    TIME_RANGE,
    EventData,
    Finite,
    Float4,
    Int16,
    Int32,
    Int64,
    JsonObject,
    Text,
    UnixTime,
    storable_text,
    text_problem,
)

SCHEMA_VERSION: Final = 1
DEFAULT_ROOT = "pal/v1"
MAX_PAYLOAD_BYTES = 64 * 1024


class ContractError(ValueError):
    """A payload or topic that does not follow the contract; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


GATEWAY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,31}$")
GatewayId = Annotated[str, StringConstraints(pattern=GATEWAY_ID_RE.pattern)]
INCARNATION_RE = re.compile(r"^[a-z0-9]{8,16}$")
Incarnation = Annotated[str, StringConstraints(pattern=INCARNATION_RE.pattern)]
"""A gateway's incarnation: random, made once with its state (outbox), never changed after."""
DeviceUid = Annotated[str, StringConstraints(min_length=3, max_length=64),
                      AfterValidator(storable_text)]


# --------------------------------------------------------------------------------------- topics


class Up(StrEnum):
    """Channels a gateway publishes on."""

    STATUS = "status"
    EVENT = "event"
    ACC = "acc"
    VITALS = "vitals"
    HEARTBEAT = "heartbeat"
    CMD_RESULT = "cmd_result"


class Down(StrEnum):
    """Channels the server publishes on, one gateway each."""

    ACK = "ack"
    CONFIG = "config"
    CMD = "cmd"


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses topic names under one root."""

    root: str = DEFAULT_ROOT

    def up(self, gateway: str, channel: Up) -> str:
        return f"{self.root}/gw/{gateway}/up/{channel.value}"

    def down(self, gateway: str, channel: Down) -> str:
        return f"{self.root}/gw/{gateway}/down/{channel.value}"

    def gateway_up_all(self, gateway: str) -> str:
        return f"{self.root}/gw/{gateway}/up/#"

    def gateway_down_all(self, gateway: str) -> str:
        return f"{self.root}/gw/{gateway}/down/#"

    def all_up(self) -> str:
        return f"{self.root}/gw/+/up/#"

    def shared_up(self, group: str, channel: Up | None = None) -> str:
        """MQTT 5 shared subscription over every gateway's uplink (or one channel of it)."""
        if channel is None:
            return f"$share/{group}/{self.all_up()}"
        return f"$share/{group}/{self.root}/gw/+/up/{channel.value}"

    def server_sync(self, client_id: str) -> str:
        """Nobody subscribes: a server client's QoS 1 publish here is a round trip to the broker."""
        return f"{self.root}/server/{client_id}/sync"

    def all_of(self, channel: Up) -> str:
        """One uplink channel of every gateway (not shared: each subscriber gets all)."""
        return f"{self.root}/gw/+/up/{channel.value}"

    def parse(self, topic: str) -> tuple[str, Up | Down]:
        """Return ``(gateway, channel)`` of a topic under this root or raise ContractError."""
        prefix = f"{self.root}/gw/"
        if not topic.startswith(prefix):
            raise ContractError("bad_topic", f"not under {prefix!r}: {topic!r}")
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3 or not GATEWAY_ID_RE.match(parts[0]):
            raise ContractError("bad_topic", f"expected gw/<id>/<up|down>/<channel>: {topic!r}")
        gateway, direction, channel = parts
        try:
            if direction == "up":
                return gateway, Up(channel)
            if direction == "down":
                return gateway, Down(channel)
        except ValueError:
            pass
        raise ContractError("bad_topic", f"unknown channel {direction}/{channel}: {topic!r}")

    def acl(self) -> str:
        """Mosquitto ACL-file pattern lines confining each gateway (username = gateway id)."""
        return (
            f"pattern write {self.root}/gw/%u/up/#\n"
            f"pattern read {self.root}/gw/%u/down/#\n"
        )

    # --------------------------------------------------------------- who may do what, by role

    def gateway_grants(self, gateway: str) -> tuple[Grant, ...]:
        """A gateway: publish its own ``up/``, read its own ``down/``, nothing else."""
        up, down = self.gateway_up_all(gateway), self.gateway_down_all(gateway)
        return (Grant(Access.PUBLISH, up), Grant(Access.SUBSCRIBE, down),
                Grant(Access.RECEIVE, down))

    def service_grants(self, service: Service) -> tuple[Grant, ...]:
        """The least each server client needs (see ``Service``)."""
        gw = f"{self.root}/gw/+"
        if service == Service.INGEST:
            return (Grant(Access.SUBSCRIBE, f"$share/+/{gw}/up/#"),
                    Grant(Access.RECEIVE, f"{gw}/up/#"),
                    Grant(Access.PUBLISH, f"{gw}/down/{Down.ACK.value}"),
                    Grant(Access.PUBLISH, self.server_sync("+")))
        if service == Service.PRESENCE:
            status = self.all_of(Up.STATUS)
            return (Grant(Access.SUBSCRIBE, status), Grant(Access.RECEIVE, status))
        if service == Service.API:
            results = self.all_of(Up.CMD_RESULT)
            return (Grant(Access.PUBLISH, f"{gw}/down/{Down.CONFIG.value}"),
                    Grant(Access.PUBLISH, f"{gw}/down/{Down.CMD.value}"),
                    # clears the retained status of a gateway whose identity was revoked
                    Grant(Access.PUBLISH, self.all_of(Up.STATUS)),
                    Grant(Access.SUBSCRIBE, results), Grant(Access.RECEIVE, results))
        return (Grant(Access.SUBSCRIBE, self.all_up()), Grant(Access.RECEIVE, self.all_up()))

    def broker_name(self, name: str) -> str:
        """A broker client or role name of this root. Names are unique in a broker, which
        roots may share (tests, a staging root beside production): any root but the default
        prefixes its own."""
        return name if self.root == DEFAULT_ROOT else f"{self.root}:{name}"


class Access(StrEnum):
    """What a grant allows (the dynamic-security plugin's ACL types)."""

    PUBLISH = "publishClientSend"
    RECEIVE = "publishClientReceive"
    SUBSCRIBE = "subscribePattern"  # any subscription within the topic filter


@dataclass(frozen=True, slots=True)
class Grant:
    """One thing an identity may do on the broker: ``access`` to ``topic`` (a filter)."""

    access: Access
    topic: str


class Service(StrEnum):
    """The server's broker identities, each with its own least rights."""

    INGEST = "ingest"  # shared subscriptions on up/; publishes down/ack and its sync topic
    PRESENCE = "presence"  # reads up/status
    API = "api"  # publishes down/config and down/cmd; reads up/cmd_result
    MONITOR = "monitor"  # reads up/ (``pinganling monitor``, a technician's eyes)


# ------------------------------------------------------------------------------------- payloads


class EventType(StrEnum):
    """What happened at a device, as the server sees it."""

    PRESS = "press"
    LONG_PRESS = "long_press"
    CANCEL = "cancel"
    FALL = "fall"
    SUPERVISION = "supervision"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"
    MOTION = "motion"
    DOOR_OPEN = "door_open"
    DOOR_CLOSED = "door_closed"
    DEVICE_SILENT = "device_silent"
    SENSOR_FAULT = "sensor_fault"
    TEST = "test"


ALARM_TYPES = frozenset({EventType.PRESS, EventType.LONG_PRESS, EventType.FALL})


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = SCHEMA_VERSION


class Event(_Payload):
    """One device event, stored once per ``id`` and acknowledged after commit.

    ``n`` counts within one incarnation of the gateway's state: a gateway whose state is new (a
    replaced SD card, a re-install, a replaced box with the same id) starts again at 1 under a
    new ``inc``, so its ids never repeat an old incarnation's. Events without ``inc`` (gateways
    from before incarnations, and rows their outbox still holds) keep the legacy id
    ``'<gateway>:<n>'``; the server accepts both.
    """

    id: Text = Field(description="'<gateway>:<inc>:<n>' (legacy: '<gateway>:<n>'), unique")
    gw: GatewayId
    inc: Incarnation | None = Field(default=None, description="the gateway state's incarnation")
    n: int = Field(ge=1, le=INT64[1], description="persisted monotonic counter of this incarnation")
    ts: UnixTime = Field(description="gateway receive time, Unix seconds")
    device: DeviceUid
    dseq: int | None = Field(default=None, ge=0, le=INT64[1],
                             description="device's own rolling sequence")
    type: EventType
    rssi: Int16 | None = None
    battery_mv: int | None = Field(default=None, ge=0, le=INT32[1])
    data: EventData = Field(default_factory=dict)

    @property
    def is_alarm(self) -> bool:
        return self.type in ALARM_TYPES


def event_id(gateway: str, inc: str | None, n: int) -> str:
    """``'<gateway>:<inc>:<n>'``; ``'<gateway>:<n>'`` for a legacy event (``inc`` None)."""
    return f"{gateway}:{n}" if inc is None else f"{gateway}:{inc}:{n}"


class Status(_Payload):
    """Retained; the LWT says offline. ``user``: the broker username the gateway logged in as
    (the server finishes a credential rotation when it sees the new one online)."""

    state: Literal["online", "offline"]
    ts: UnixTime | None = None
    version: Text | None = None
    user: Text | None = None


MAX_ACK_IDS = 10_000


class Ack(_Payload):
    """Event numbers (``Event.n``) of one gateway incarnation that the server has committed.

    A gateway applies an ack only to its own incarnation: a persistent MQTT session can deliver
    acks queued for the state it had before a reset, whose numbers mean other events now.
    ``inc`` is absent for legacy events (sent without ``inc``).
    """

    inc: Incarnation | None = None
    ids: list[int] = Field(min_length=1, max_length=MAX_ACK_IDS)

    @classmethod
    def batches(cls, ids: Iterable[int], inc: str | None = None) -> list[Ack]:
        """As many Acks as it takes for ``ids`` (deduplicated, in order)."""
        unique = list(dict.fromkeys(ids))
        return [cls(inc=inc, ids=unique[i : i + MAX_ACK_IDS])
                for i in range(0, len(unique), MAX_ACK_IDS)]


class VitalReading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ts: UnixTime
    hr: int | None = Field(default=None, ge=0, le=300)
    contact: bool | None = None
    rr_ms: list[Float4] = Field(default_factory=list)
    spo2: float | None = Field(default=None, ge=0, le=100)
    pulse: float | None = Field(default=None, ge=0, le=300)


MAX_READINGS = 600


class Vitals(_Payload):
    gw: GatewayId
    device: DeviceUid
    readings: list[VitalReading] = Field(min_length=1, max_length=MAX_READINGS)

    @classmethod
    def batches(cls, gw: str, device: str, readings: list[VitalReading]) -> list[Vitals]:
        """As many messages as it takes for ``readings``."""
        return [cls(gw=gw, device=device, readings=readings[i : i + MAX_READINGS])
                for i in range(0, len(readings), MAX_READINGS)]


class DeviceHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device: DeviceUid
    kind: Text
    last_seen: UnixTime | None = None
    rssi: Int16 | None = None
    battery_mv: Int32 | None = None
    battery_pct: Int16 | None = None


class OutboxHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    depth: Int64
    alarms: Int64
    oldest_s: Finite | None = None
    shed: Int64


MAX_HEARD = 50  # heard-not-paired devices a heartbeat carries (the most recent)


class HeardDevice(BaseModel):
    """A device heard on the air but not paired: the technician's pairing candidates.
    ``model``: what its frames suggest (a catalogue id), to be confirmed when paired."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    device: DeviceUid
    frames: Int64
    last_seen: UnixTime
    rssi: Int16 | None = None
    battery_mv: Int32 | None = None
    model: Text | None = None


class Heartbeat(_Payload):
    gw: GatewayId
    ts: UnixTime
    uptime_s: Finite
    interval_s: Finite
    outbox: OutboxHealth
    devices: list[DeviceHealth] = Field(default_factory=list)
    heard_unpaired: list[Text] = Field(default_factory=list)
    heard: list[HeardDevice] = Field(default_factory=list, max_length=MAX_HEARD)
    counters: dict[Text, Int64] = Field(default_factory=dict)
    config_rev: Int32 = Field(default=0, description="the GatewayConfig revision applied")


class PairedDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device: DeviceUid
    model: Text = Field(max_length=40)
    label: Text = Field(default="", max_length=80)


class GatewayConfig(_Payload):
    """Desired gateway configuration, retained on ``down/config`` (QoS 1) by the server, the
    only writer; applied without restart. ``rev`` grows with every change (per gateway, kept by
    the server); the gateway ignores a revision lower than the one it applied and reports the
    one it applied in every heartbeat (``Heartbeat.config_rev``)."""

    rev: Int32 = Field(ge=0)
    heartbeat_s: float | None = Field(default=None, ge=1, le=3600,
                                      description="None: the gateway keeps its own setting")
    devices: list[PairedDevice] | None = Field(
        default=None, description="when given, the full list of paired devices"
    )


class CommandOp(StrEnum):
    TEST_ALARM = "test_alarm"
    PAIR = "pair"
    UNPAIR = "unpair"
    SCAN = "scan"
    STATUS = "status"
    PREWARN = "prewarn"  # inactivity pre-warning: the elder is prompted, answers with a press
    ALERT_WEARER = "alert_wearer"  # a detected fall: the wearable alerts, the wearer may cancel
    # a new broker identity (args username, password): the gateway logs in with it at once
    ROTATE_CREDENTIALS = "rotate_credentials"
    # drop the MQTT session and log in again (the outbox is kept: what was unsent is resent)
    RESTART_UPLINK = "restart_uplink"


CommandArgs = dict[str, str | int | float | bool]


class Command(_Payload):
    id: str = Field(min_length=1, max_length=64)
    op: CommandOp
    args: CommandArgs = Field(default_factory=dict)


# ------------------------------------------------------------------------------------- prompts
# The gateway asks the elder something (a fall was detected: "press if you are all right"; an
# inactivity pre-warning: "are you all right?") by sound or voice and by writing the Immediate
# Alert level of their wearable. The first short press of a paired panic button (or a cancel)
# within the prompt's window answers it: the gateway sends that press with ``data`` naming the
# prompt (``answers``, ``prompt``, ``after_s``), and the server takes it as the answer instead of
# a panic. A fall's get-up seen by an edge gateway answers it as a ``cancel`` event of the
# wearable, ``data.by = "got_up"``.


class PromptKind(StrEnum):
    """What a gateway asked the elder."""

    FALL = "fall"
    PREWARN = "prewarn"


ANSWERS: Final = "answers"  # event data: the PromptKind answered
PROMPT: Final = "prompt"  # ... the prompt's reference (fall: its event id; pre-warning: command id)
AFTER_S: Final = "after_s"  # ... seconds from the prompt to the answer


@dataclass(frozen=True, slots=True)
class Answer:
    """The prompt an event answered."""

    kind: PromptKind
    prompt: str
    after_s: float | None = None


def answer_of(data: Mapping[str, object]) -> Answer | None:
    """The prompt an event's ``data`` says it answered; None for an event answering none (or one
    whose answer fields are not a prompt kind and a reference: those answer nothing)."""
    kind, ref, after = data.get(ANSWERS), data.get(PROMPT), data.get(AFTER_S)
    if not isinstance(kind, str) or kind not in set(PromptKind) or not isinstance(ref, str) \
            or not ref:
        return None
    if isinstance(after, bool) or not isinstance(after, int | float):
        return Answer(PromptKind(kind), ref)
    return Answer(PromptKind(kind), ref, float(after))


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def args(self) -> CommandArgs:
        return self.model_dump(exclude_none=True)


class AlertWearerArgs(_Args):
    """``alert_wearer``: alert ``device`` at ``level`` (0 none: withdraw the prompt, 1 mild, 2
    high) for ``window_s``; a prompt still arriving after ``until`` (server time, Unix s) is too
    late to be answered and is not given. ``ref``: what the answer will name (the fall event)."""

    device: DeviceUid
    level: int = Field(ge=0, le=2)
    kind: PromptKind = PromptKind.FALL
    ref: Text = Field(min_length=1, max_length=64)
    window_s: float = Field(default=30.0, gt=0, le=3600)
    until: UnixTime | None = None


class PrewarnArgs(_Args):
    """``prewarn``: ask the resident whether they are all right (sound / voice at the gateway,
    a mild alert on ``devices``, their wearables, comma-separated), for ``window_s``; after
    ``until`` it is too late. ``rule`` and ``inactive_min`` come back with the answer."""

    resident: int = Field(ge=1, le=INT64[1])
    devices: str = ""
    window_s: float = Field(default=900.0, gt=0, le=86_400)
    until: UnixTime | None = None
    rule: Text = ""
    inactive_min: int = Field(default=0, ge=0, le=INT32[1])

    @property
    def wearables(self) -> list[str]:
        return [d for d in self.devices.split(",") if d]


class CommandResult(_Payload):
    id: Text
    ok: bool
    detail: Text = ""
    data: JsonObject = Field(default_factory=dict)


M = TypeVar("M", bound=_Payload)

# pydantic's error types → the reason a refusal is counted under
_REASONS: Final = {
    "bad_text": "bad_text", "bad_time": "bad_time", "not_finite": "not_finite",
    "out_of_range": "out_of_range", "finite_number": "not_finite",
    "greater_than": "out_of_range", "greater_than_equal": "out_of_range",
    "less_than": "out_of_range", "less_than_equal": "out_of_range",
}


def parse(model: type[M], payload: bytes) -> M:
    """Validate a JSON payload against a contract model; raise ContractError with a reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = "bad_version" if first["loc"] == ("v",) else _REASONS.get(first["type"],
                                                                           "malformed")
        detail = f"{model.__name__}: {exc.error_count()} error(s), {first['loc']}: {first['msg']}"
        raise ContractError(reason, detail) from None


def dump(obj: _Payload) -> bytes:
    return obj.model_dump_json(exclude_none=True).encode()


# ------------------------------------------------------------------------- accelerometer blocks

ACC_MAGIC = b"PA"
ACC_HEADER = struct.Struct("<2sBBqIfHH")  # magic, version, uid length, t0 µs, seq, g/LSB, Hz*100, n
ACC_DTYPE = np.dtype("<i2")
_ACC_T0_US = (int(TIME_RANGE[0] * 1e6), int(TIME_RANGE[1] * 1e6))


@dataclass(frozen=True, slots=True)
class AccBlock:
    """About one second of one wearable's 3-axis samples, int16 counts of ``scale_g`` g each."""

    device: str
    t0_us: int
    seq: int
    rate_hz: float
    scale_g: float
    samples: npt.NDArray[np.int16]  # shape (n, 3)

    def encode(self) -> bytes:
        uid = self.device.encode()
        n = len(self.samples)
        head = ACC_HEADER.pack(
            ACC_MAGIC, SCHEMA_VERSION, len(uid), self.t0_us, self.seq & 0xFFFFFFFF,
            self.scale_g, round(self.rate_hz * 100), n,
        )
        return head + uid + np.ascontiguousarray(self.samples, dtype=ACC_DTYPE).tobytes()

    @classmethod
    def decode(cls, payload: bytes) -> AccBlock:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ContractError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
        if len(payload) < ACC_HEADER.size:
            raise ContractError("malformed", f"acc block of {len(payload)} bytes < header")
        magic, version, uid_len, t0_us, seq, scale_g, rate_c, n = ACC_HEADER.unpack_from(payload)
        if magic != ACC_MAGIC:
            raise ContractError("malformed", f"acc block magic {magic!r}")
        if version != SCHEMA_VERSION:
            raise ContractError("bad_version", f"acc block version {version}")
        start = ACC_HEADER.size + uid_len
        if len(payload) != start + 6 * n or rate_c == 0 or not np.isfinite(scale_g):
            raise ContractError("malformed", f"acc block of {len(payload)} bytes, n={n}")
        try:
            device = payload[ACC_HEADER.size : start].decode()
        except UnicodeDecodeError:
            raise ContractError("bad_text", "acc block uid is not UTF-8") from None
        problem = text_problem(device)
        if problem is not None:
            raise ContractError("bad_text", f"acc block uid: {problem}")
        if not _ACC_T0_US[0] <= t0_us <= _ACC_T0_US[1]:
            raise ContractError("bad_time", f"acc block t0_us={t0_us} is not a plausible time")
        samples = np.frombuffer(payload, dtype=ACC_DTYPE, offset=start).reshape(n, 3)
        return cls(device, t0_us, seq, rate_c / 100, scale_g, samples)
