"""The doctor's checks: each a small function of the ``Box`` returning one ``Finding``.

A check states what it found when all is well, and otherwise what is wrong and the command that
fixes it, written for the technician at the box (root shell, the field build of
``hardware/FIELD.md``). ``plan`` lists them in the order a technician would fix them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shlex
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import serial

from gateway.doctor.model import (
    JOURNALD_DROP_IN,
    UDEV_RULES,
    UNIT,
    Box,
    Finding,
    Verdict,
    describe,
    group_name,
    shipped,
    user_name,
)
from gateway.doctor.probes import (
    BluezUnavailable,
    BrokerUnreachable,
    bluez_adapters,
    holders,
    mqtt_connack,
    reach,
)
from gateway.field_files import parse_udev_rules, parse_unit
from gateway.outbox import peek
from gateway.settings import GatewaySettings

OK, WARN, FAIL, SKIP = Verdict.OK, Verdict.WARN, Verdict.FAIL, Verdict.SKIP
Check = Callable[[Box], Finding]

MIN_FREE = 100 * 2**20  # below this the outbox may soon fail to store an alarm
LOW_FREE = 500 * 2**20
ALARM_STUCK_S = 120.0  # an alarm not acknowledged this long is not reaching the server
EVENT_STUCK_S = 600.0
EARLIEST = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # a clock before this was never set
RESTART = f"systemctl restart {UNIT.removesuffix('.service')}"
JOURNAL = f"journalctl -u {UNIT.removesuffix('.service')} -n 50 --no-pager"
BROKER_REFUSALS = {0x85: "client id", 0x86: "credentials", 0x87: "credentials",
                   0x8C: "credentials"}


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _needs_settings(name: str, box: Box) -> Finding | None:
    if box.settings is None:
        return Finding(name, SKIP, "not checked: the configuration did not load")
    return None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _device_paths(settings: GatewaySettings) -> list[str]:
    return [url for url in settings.serial if "://" not in url]


# ------------------------------------------------------------------------------ configuration


def check_config(box: Box) -> Finding:
    where = str(box.config) if box.config else "command line"
    example = shipped("gateway.toml")
    if box.settings is None:
        fix = f"edit {where}; every key is explained in {example}"
        if box.config is not None and not box.config.exists():
            fix = (f"install -D -m 640 -g {box.user_name} {_q(example)} {_q(box.config)}, then "
                   "set its id and broker")
        return Finding("config", FAIL, box.settings_error or "no configuration", fix)
    s = box.settings
    serial_links = ", ".join(s.serial) or "no serial link"
    return Finding("config", OK, f"{where}: gateway {s.id}, {serial_links}, BLE {s.ble}, "
                                 f"broker {s.mqtt.host}:{s.mqtt.port}")


def check_user(box: Box) -> Finding:
    name = box.user_name
    s = box.settings
    wanted = []
    if s is not None and _device_paths(s):
        wanted.append(_serial_group(s))
    if s is not None and s.ble == "bleak":
        wanted.append("bluetooth")
    if box.user is None:
        groups = f" --groups {','.join(wanted)}" if wanted else ""
        return Finding("service user", FAIL, f"there is no user {name!r} ({box.user_from})",
                       f"useradd --system --user-group --home-dir /var/lib/pinganling "
                       f"--shell /usr/sbin/nologin{groups} {name}")
    user = box.user
    if user.uid == 0:
        return Finding("service user", WARN, f"the gateway runs as root ({box.user_from})",
                       f"give it a user of its own: User=pinganling in the unit "
                       f"({shipped(UNIT)}), and the useradd of hardware/FIELD.md")
    missing = [g for g in wanted if g not in user.group_names()]
    if missing:
        return Finding("service user", FAIL,
                       f"{name} is not in group {', '.join(missing)} "
                       f"(in: {', '.join(user.group_names())})",
                       f"usermod -aG {','.join(missing)} {name} && {RESTART}")
    return Finding("service user", OK, f"{name} (uid {user.uid}, {box.user_from}), groups "
                                       f"{', '.join(user.group_names())}")


def _serial_group(settings: GatewaySettings) -> str:
    """The group the dongle's device belongs to (dialout, as the udev rule sets it)."""
    for url in _device_paths(settings):
        try:
            return group_name(os.stat(url).st_gid)
        except OSError:
            continue
    return "dialout"


# ------------------------------------------------------------------------------ files


def check_state_dir(box: Box) -> Finding:
    if (skip := _needs_settings("state dir", box)) is not None:
        return skip
    assert box.settings is not None
    path = box.settings.state_dir
    owner = box.user_name
    make = f"install -d -m 700 -o {owner} -g {owner} {_q(path)}"
    if not path.exists():
        return Finding("state dir", FAIL, f"{path} does not exist",
                       f"{make} (the unit's StateDirectory= also creates "
                       "/var/lib/pinganling when it starts)")
    st = path.stat()
    if not stat.S_ISDIR(st.st_mode):
        return Finding("state dir", FAIL, f"{path} is not a directory ({describe(st)})",
                       f"move it away, then {make}")
    problems: list[str] = []
    fixes: list[str] = []
    user = box.user
    if user is not None and st.st_uid != user.uid:
        problems.append(f"owned by {user_name(st.st_uid)}, not {owner}")
        fixes.append(f"chown -R {owner}:{owner} {_q(path)}")
    if user is not None and not user.may(st, os.W_OK | os.X_OK):
        problems.append(f"{owner} may not write in it")
        fixes.append(f"chmod u+rwx {_q(path)}")
    if st.st_mode & 0o007:
        problems.append("everyone may read it (elders' data)")
        fixes.append(f"chmod -R o-rwx {_q(path)}")
    exposed = [p.name for p in sorted(path.glob("gateway.sqlite3*")) if p.stat().st_mode & 0o004]
    if exposed and not st.st_mode & 0o007:
        problems.append(f"everyone may read {', '.join(exposed)}")
        fixes.append(f"chmod o-rwx {_q(path)}/gateway.sqlite3*")
    if problems:
        return Finding("state dir", FAIL, f"{path} ({describe(st)}): {'; '.join(problems)}",
                       " && ".join(dict.fromkeys(fixes)))
    return Finding("state dir", OK, f"{path} ({describe(st)})")


def credential_files(settings: GatewaySettings) -> list[tuple[str, Path]]:
    """The secrets the gateway reads, by the key that names them."""
    found = []
    if settings.mqtt.credentials_file is not None:
        found.append(("mqtt.credentials_file", settings.mqtt.credentials_file))
    if settings.mqtt.password_file is not None:
        found.append(("mqtt.password_file", settings.mqtt.password_file))
    return found


def check_credentials(box: Box) -> Finding:
    if (skip := _needs_settings("credentials", box)) is not None:
        return skip
    assert box.settings is not None
    files = credential_files(box.settings)
    provision = "pinganling gateway provision --server URL --code CODE"
    if not files:
        return Finding("credentials", WARN, "no credential file configured "
                       "(mqtt.credentials_file or mqtt.password_file): only a broker open to "
                       "anyone would accept this gateway", f"provision it: {provision}")
    owner = box.user_name
    problems: list[str] = []
    fixes: list[str] = []
    shown = []
    for key, path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            problems.append(f"{path} ({key}) does not exist")
            fixes.append(provision)
            continue
        shown.append(f"{path} ({describe(st)})")
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{path} is not a file")
            continue
        if st.st_mode & 0o077:
            problems.append(f"{path} is {stat.filemode(st.st_mode)}: others may read the secret")
            fixes.append(f"chmod 600 {_q(path)}")
        if box.user is not None and st.st_uid != box.user.uid:
            problems.append(f"{path} is owned by {user_name(st.st_uid)}, not {owner}")
            fixes.append(f"chown {owner}:{owner} {_q(path)}")
        if st.st_size == 0:
            problems.append(f"{path} is empty")
            fixes.append(provision)
    if problems:
        return Finding("credentials", FAIL, "; ".join(problems), " && ".join(
            dict.fromkeys(fixes)) or provision)
    return Finding("credentials", OK, ", ".join(shown))


# ------------------------------------------------------------------------------ devices


def check_serial(box: Box, url: str) -> Finding:
    name = "serial"
    assert box.settings is not None
    if "://" in url:
        return _open(name, url, box.settings.baudrate, f"{url} opens",
                     "is the serial bridge at that address running?")
    path = Path(url)
    find = ("plug the dongle in; `ls -l /dev/serial/by-id/` lists it; "
            f"check /etc/udev/rules.d/{UDEV_RULES} (hardware/FIELD.md, 'RF dongle')")
    if not path.exists():
        dangling = " (a link to nothing)" if path.is_symlink() else ""
        return Finding(name, FAIL, f"{url} does not exist{dangling}: the dongle is unplugged, "
                                   "or no udev rule names it", find)
    real = Path(os.path.realpath(path))
    st = path.stat()
    shown = f"{url} -> {real}" if real != path else url
    if not stat.S_ISCHR(st.st_mode):
        return Finding(name, FAIL, f"{shown} is not a serial device ({describe(st)})", find)
    user = box.user
    if user is not None and not user.may(st, os.R_OK | os.W_OK):
        group = group_name(st.st_gid)
        fix = (f"usermod -aG {group} {user.name} && {RESTART}" if st.st_mode & 0o060 == 0o060
               else f'the udev rule sets GROUP="dialout", MODE="0660" ({shipped(UDEV_RULES)})')
        return Finding(name, FAIL, f"{user.name} may not open {shown} ({describe(st)})", fix)
    others = holders(path, box.places.proc)
    gateway = [h for h in others if "pinganling" in h.command]
    strangers = [h for h in others if "pinganling" not in h.command]
    if strangers:
        who = ", ".join(f"pid {h.pid} ({h.command[:60]})" for h in strangers)
        return Finding(name, FAIL, f"{shown} is held open by {who}: it may eat the dongle's "
                                   "frames", "stop it (ModemManager: systemctl disable --now "
                                   "ModemManager; the udev rule's ID_MM_DEVICE_IGNORE keeps it "
                                   "away)")
    if gateway:
        found = Finding(name, OK, f"{shown} is open in the gateway (pid {gateway[0].pid}); not "
                                  "opened again, which would flush its input")
    else:
        found = _open(name, url, box.settings.baudrate, f"{shown} opens ({describe(st)})", find)
    if found.verdict is OK and not box.places.is_stable(url):
        return Finding(name, WARN, f"{found.message}, but {url} is not a stable name: after a "
                                   "reboot or a replug it may name another device",
                       f"install the udev rule ({shipped(UDEV_RULES)}) and set serial = "
                       '["/dev/pinganling-rf0"]')
    return found


def _open(name: str, url: str, baudrate: int, ok: str, fix: str) -> Finding:
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
    except (serial.SerialException, OSError, ValueError) as exc:
        return Finding(name, FAIL, f"{url} does not open: {exc}", fix)
    port.close()
    return Finding(name, OK, ok)


def check_udev(box: Box) -> Finding:
    name = "udev rule"
    if (skip := _needs_settings(name, box)) is not None:
        return skip
    assert box.settings is not None
    paths = _device_paths(box.settings)
    if not paths:
        return Finding(name, SKIP, "not checked: no serial device path configured")
    rules_file = box.places.udev_rules / UDEV_RULES
    ours = [link for p in paths if (link := box.places.ours(p)) is not None]
    install = (f"install -m 644 {_q(shipped(UDEV_RULES))} {_q(box.places.udev_rules)}/ && "
               "udevadm control --reload && udevadm trigger --subsystem-match=tty")
    if not rules_file.exists():
        return Finding(name, FAIL if ours else WARN, f"{rules_file} is not installed", install)
    rules, problems = parse_udev_rules(rules_file.read_text())
    if problems:
        return Finding(name, FAIL, f"{rules_file}: {'; '.join(problems)}",
                       f"correct it (compare {shipped(UDEV_RULES)})")
    named = {link for r in rules for v in r.assigned("SYMLINK") for link in v.split()}
    unnamed = [link for link in ours if link not in named]
    if unnamed:
        return Finding(name, FAIL, f"no rule in {rules_file} names {', '.join(unnamed)} "
                                   f"(it names {', '.join(sorted(named)) or 'nothing'})",
                       f'add SYMLINK+="{unnamed[0]}" to the dongle\'s rule')
    loose = [r.line for r in rules if r.assigned("SYMLINK") and not r.assigned("MODE")]
    if loose:
        return Finding(name, WARN, f"{rules_file}: the rule on line {loose[0]} sets no MODE",
                       'add GROUP="dialout", MODE="0660"')
    return Finding(name, OK, f"{rules_file}: {len(rules)} rule(s) naming "
                             f"{', '.join(sorted(named)) or 'nothing'}")


def check_bluetooth(box: Box) -> Finding:
    name = "bluetooth"
    if (skip := _needs_settings(name, box)) is not None:
        return skip
    assert box.settings is not None
    if box.settings.ble != "bleak":
        return Finding(name, SKIP, f'not checked: ble = "{box.settings.ble}"')
    hcis = sorted(p.name for p in box.places.bluetooth.glob("hci*")) \
        if box.places.bluetooth.is_dir() else []
    if not hcis:
        return Finding(name, FAIL, f"no Bluetooth adapter ({box.places.bluetooth}/hci* absent)",
                       "plug in a USB BLE adapter, or enable the on-board one (no "
                       "dtoverlay=disable-bt in /boot/firmware/config.txt); `rfkill list`")
    try:
        adapters = bluez_adapters(box.timeout_s)
    except BluezUnavailable as exc:
        text = str(exc)
        if "AccessDenied" in text:
            fix = f"usermod -aG bluetooth {box.user_name} && {RESTART}"
        elif "ServiceUnknown" in text or "NameHasNoOwner" in text:
            fix = "apt-get install bluez && systemctl enable --now bluetooth"
        else:
            fix = "systemctl status dbus bluetooth"
        return Finding(name, FAIL, f"{', '.join(hcis)} present, but BlueZ does not answer: "
                                   f"{text}", fix)
    if not adapters:
        return Finding(name, FAIL, f"{', '.join(hcis)} present, but BlueZ manages no adapter",
                       "systemctl restart bluetooth; `bluetoothctl list`")
    off = [a for a in adapters if not a.powered]
    if len(off) == len(adapters):
        return Finding(name, FAIL, f"adapter {off[0].address} ({off[0].path}) is powered off",
                       "rfkill unblock bluetooth && bluetoothctl power on (and AutoEnable=true "
                       "in /etc/bluetooth/main.conf)")
    on = next(a for a in adapters if a.powered)
    return Finding(name, OK, f"BlueZ adapter {on.address} ({on.path}) powered on")


# ------------------------------------------------------------------------------ broker, clock


def check_broker(box: Box) -> Finding:
    name = "broker"
    if (skip := _needs_settings(name, box)) is not None:
        return skip
    assert box.settings is not None
    s = box.settings
    where = f"{s.mqtt.host}:{s.mqtt.port}"
    check_address = f"check [mqtt] host and port in {box.config or 'the configuration'}"
    try:
        reach(s.mqtt.host, s.mqtt.port, box.tls, box.timeout_s)
    except BrokerUnreachable as exc:
        if exc.tls:
            return Finding(name, FAIL, str(exc), f"{check_address}: the broker's TLS port "
                                                 "(usually 8883), and the CA the gateway trusts")
        return Finding(name, FAIL, f"cannot reach the broker: {exc}",
                       f"{check_address}; is the network up (`ip route`, `ping "
                       f"{s.mqtt.host}`)?")
    if s.mqtt.credentials_file is not None:  # provisioned: bound to the gateway's client id
        tls = ", TLS" if box.tls is not None else ""
        return Finding(name, OK, f"{where} reachable{tls}; the provisioned identity logs in "
                                 "only with the gateway's own client id, so the doctor does not "
                                 "try it (the gateway's log says 'MQTT connected' when it does)")
    try:
        login = s.mqtt.login()
        password = login.password if login else None
    except OSError as exc:
        return Finding(name, FAIL, f"{where} is reachable, but the password file cannot be "
                                   f"read: {exc}", "see the credentials check")
    try:
        answer = mqtt_connack(s.mqtt.host, s.mqtt.port, client_id=f"{s.id}-doctor",
                              username=s.mqtt.username, password=password, tls=box.tls,
                              timeout_s=box.timeout_s)
    except BrokerUnreachable as exc:
        return Finding(name, FAIL, str(exc), check_address)
    tls = ", TLS" if box.tls is not None else ""
    who = s.mqtt.username or "anonymous"
    if not answer.accepted:
        refused = BROKER_REFUSALS.get(answer.code)
        if refused == "credentials":
            return Finding(name, FAIL, f"{where} refused the gateway's credentials ({who}): "
                                       f"{answer.reason}",
                           "wrong, rotated or revoked: provision again (pinganling gateway "
                           "provision --server URL --code CODE) or check mqtt.username and "
                           "mqtt.password_file")
        return Finding(name, FAIL, f"{where} refused the connection: {answer.reason} "
                                   f"(CONNACK 0x{answer.code:02x})",
                       "ask the server's operator; the broker's log says why")
    if s.mqtt.username is None:
        return Finding(name, WARN, f"{where} accepted an anonymous client (MQTT 5{tls}): the "
                                   "broker is open to anyone", "provision the gateway; the "
                                   "broker must refuse anonymous clients")
    return Finding(name, OK, f"{where} accepted {who} (MQTT 5{tls})")


def check_clock(box: Box) -> Finding:
    name = "clock"
    now = dt.datetime.now(dt.UTC)
    local = now.astimezone()
    shown = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    if now < EARLIEST:
        return Finding(name, FAIL, f"the clock says {shown}: it was never set, and every "
                                   "event would carry a wrong time",
                       "timedatectl set-ntp true; check the network, then run the doctor again")
    if box.which("timedatectl") is None:
        return Finding(name, SKIP, f"{shown}; not checked whether it is synchronised: "
                                   "timedatectl is not installed")
    done = box.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    answer = done.stdout.strip()
    if done.returncode != 0:
        why = _first_line(done.stderr) or f"exit status {done.returncode}"
        return Finding(name, SKIP, f"{shown}; cannot ask systemd-timedated: {why}")
    if answer != "yes":
        return Finding(name, FAIL, f"{shown}, not synchronised (NTPSynchronized={answer}): "
                                   "event times may be off",
                       "timedatectl set-ntp true && systemctl enable --now systemd-timesyncd "
                       f"(servers: {shipped('timesyncd.conf.d/pinganling.conf')}); "
                       "`timedatectl timesync-status`")
    return Finding(name, OK, f"{shown}, synchronised")


# ------------------------------------------------------------------------------ systemd


def check_unit(box: Box) -> Finding:
    name = "unit file"
    unit = box.unit
    install = (f"install -m 644 {_q(shipped(UNIT))} /etc/systemd/system/ && "
               f"systemctl daemon-reload && systemctl enable --now {UNIT}")
    if unit is None:
        return Finding(name, FAIL, f"{UNIT} is not installed", install)
    parsed = parse_unit(unit.read_text())
    problems = list(parsed.problems)
    warnings: list[str] = []
    svc = "Service"
    if parsed.value(svc, "Type") != "notify":
        problems.append("Type=notify is missing (the gateway says when it is ready)")
    if parsed.value(svc, "Restart") != "always":
        problems.append(f"Restart={parsed.value(svc, 'Restart') or 'no'}: "
                        "use Restart=always")
    if parsed.value(svc, "WatchdogSec") in (None, "", "0", "infinity"):
        problems.append("no WatchdogSec=: a hung gateway would never be restarted")
    if not parsed.value(svc, "User") or parsed.value(svc, "User") == "root":
        problems.append("no User=: it would run as root")
    if box.settings is not None and parsed.value(svc, "ProtectSystem") == "strict":
        writable = [Path(p.lstrip("-+")) for v in parsed.values(svc, "ReadWritePaths")
                    for p in v.split()]
        writable += [Path("/var/lib") / d for v in parsed.values(svc, "StateDirectory")
                     for d in v.split()]
        state = box.settings.state_dir
        if not any(state == w or w in state.parents for w in writable):
            problems.append(f"ProtectSystem=strict, and {state} is not under ReadWritePaths= "
                            "or StateDirectory=: the gateway could not write its outbox")
    exec_start = " ".join(parsed.values(svc, "ExecStart"))
    if box.config is not None and exec_start and str(box.config) not in exec_start.split():
        warnings.append(f"it runs `{exec_start}`, not with {box.config}")
    verified = _verify(box, unit)
    problems += verified
    note = "" if box.which("systemd-analyze") else " (systemd-analyze not found: not verified)"
    if problems:
        return Finding(name, FAIL, f"{unit}: {'; '.join(problems)}",
                       f"compare with {shipped(UNIT)}, then systemctl daemon-reload && {RESTART}")
    if warnings:
        return Finding(name, WARN, f"{unit}: {'; '.join(warnings)}{note}",
                       f"set ExecStart=… -c {box.config} in {unit}, then systemctl daemon-reload")
    return Finding(name, OK, f"{unit}: valid{note}")


def _verify(box: Box, unit: Path) -> list[str]:
    """``systemd-analyze verify``'s complaints (it exits 0 on most of them)."""
    if box.which("systemd-analyze") is None:
        return []
    done = box.run(["systemd-analyze", "verify", "--man=no", str(unit)])
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0 and not lines:
        lines = [f"systemd-analyze verify: exit status {done.returncode}"]
    return [line.removeprefix(f"{unit}:") for line in lines]


def check_service(box: Box) -> Finding:
    name = "service"
    if box.which("systemctl") is None:
        return Finding(name, SKIP, "not checked: systemctl is not installed")
    if box.unit is None:
        return Finding(name, SKIP, f"not checked: {UNIT} is not installed")
    enabled = box.run(["systemctl", "is-enabled", UNIT])
    state = enabled.stdout.strip() or _first_line(enabled.stderr)
    if state != "enabled":
        return Finding(name, FAIL, f"{UNIT} is not enabled ({state}): it would not start at "
                                   "boot", f"systemctl enable --now {UNIT}")
    active = box.run(["systemctl", "is-active", UNIT])
    running = active.stdout.strip()
    if "not been booted with systemd" in active.stderr:
        return Finding(name, SKIP, "enabled; whether it runs is not known: this system was not "
                                   "booted with systemd")
    if running != "active":
        return Finding(name, FAIL, f"{UNIT} is enabled but {running or 'not running'}",
                       f"systemctl start {UNIT}; why it stopped: {JOURNAL}")
    return Finding(name, OK, f"{UNIT} enabled and running")


def check_journald(box: Box) -> Finding:
    name = "logs"
    drop_in = box.places.journald / JOURNALD_DROP_IN
    install = (f"install -D -m 644 {_q(shipped('journald.conf.d/' + JOURNALD_DROP_IN))} "
               f"{_q(drop_in)} && systemctl restart systemd-journald")
    if not drop_in.exists():
        return Finding(name, WARN, f"{drop_in} is not installed: the journal may take 10 % of "
                                   "the SD card, or keep nothing across a reboot", install)
    conf = parse_unit(drop_in.read_text())
    limit = conf.value("Journal", "SystemMaxUse")
    problems = list(conf.problems)
    if not limit:
        problems.append("no SystemMaxUse=")
    if conf.value("Journal", "Storage") not in ("persistent", "auto"):
        problems.append(f"Storage={conf.value('Journal', 'Storage')}: logs are lost at reboot")
    if problems:
        return Finding(name, WARN, f"{drop_in}: {'; '.join(problems)}", install)
    return Finding(name, OK, f"journal kept on disk, at most {limit} ({drop_in})")


# ------------------------------------------------------------------------------ state


def check_disk(box: Box) -> Finding:
    name = "disk"
    if (skip := _needs_settings(name, box)) is not None:
        return skip
    assert box.settings is not None
    path = box.settings.state_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    free = f"{usage.free / 2**20:,.0f} MiB free of {usage.total / 2**30:,.1f} GiB at {path}"
    fix = "free space: journalctl --vacuum-size=100M; apt-get clean; remove old files"
    if usage.free < MIN_FREE:
        return Finding(name, FAIL, f"only {free}: the outbox may fail to store an alarm", fix)
    if usage.free < LOW_FREE:
        return Finding(name, WARN, f"{free}: little room for the outbox", fix)
    return Finding(name, OK, free)


def check_outbox(box: Box) -> Finding:
    name = "outbox"
    if (skip := _needs_settings(name, box)) is not None:
        return skip
    assert box.settings is not None
    db = box.settings.db_path
    if not db.exists():
        return Finding(name, SKIP, f"not checked: no outbox yet ({db}): the gateway has not run")
    try:
        stats = peek(db)
    except sqlite3.Error as exc:
        return Finding(name, FAIL, f"cannot read {db}: {exc}",
                       f"run the doctor as root or as {box.user_name}")
    now = time.time()
    waiting = (f"{stats.depth} waiting (alarms {stats.alarms}, events {stats.events}, "
               f"telemetry {stats.telemetry}); telemetry shed so far: {stats.shed}")
    if stats.oldest_alarm is not None and now - stats.oldest_alarm > ALARM_STUCK_S:
        return Finding(name, FAIL, f"{stats.alarms} alarm(s) not acknowledged by the server, "
                                   f"the oldest since {_ago(now, stats.oldest_alarm)}; "
                                   f"{waiting}",
                       "if the broker check fails, fix it first; if it passes, the server "
                       f"is not acknowledging: tell the call centre; {JOURNAL} (alarms are "
                       "kept and sent again until the server acknowledges them)")
    if stats.oldest_created is not None and now - stats.oldest_created > EVENT_STUCK_S:
        return Finding(name, WARN, f"events wait since {_ago(now, stats.oldest_created)}; "
                                   f"{waiting}", f"see the broker check; {JOURNAL}")
    if stats.telemetry >= 0.8 * box.settings.max_telemetry_rows:
        return Finding(name, WARN, f"{waiting}: the oldest telemetry is shed beyond "
                                   f"{box.settings.max_telemetry_rows}",
                       f"see the broker check; {JOURNAL}")
    return Finding(name, OK, waiting)


def _ago(now: float, then: float) -> str:
    when = dt.datetime.fromtimestamp(then).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{when} ({(now - then) / 60:.0f} min ago)"


# ------------------------------------------------------------------------------ the plan


def plan(box: Box) -> list[tuple[str, Check]]:
    """Every check, named, in the order a technician fixes things."""
    serial_checks: list[tuple[str, Check]] = [
        ("serial", functools.partial(check_serial, url=url))
        for url in (box.settings.serial if box.settings is not None else ())]
    if box.settings is not None and not box.settings.serial:
        serial_checks = [("serial", _no_serial)]
    return [
        ("config", check_config),
        ("service user", check_user),
        ("state dir", check_state_dir),
        ("credentials", check_credentials),
        *serial_checks,
        ("udev rule", check_udev),
        ("bluetooth", check_bluetooth),
        ("broker", check_broker),
        ("clock", check_clock),
        ("unit file", check_unit),
        ("service", check_service),
        ("logs", check_journald),
        ("disk", check_disk),
        ("outbox", check_outbox),
    ]


def _no_serial(box: Box) -> Finding:
    return Finding("serial", WARN, "no serial link configured: RF buttons and pull cords are "
                                   "not heard", 'serial = ["/dev/pinganling-rf0"] in the config')

