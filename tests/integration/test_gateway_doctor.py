"""``pinganling gateway doctor`` on what can be made real here: a pty as the dongle, missing and
dangling device paths, a state dir and a credential file with wrong permissions, real brokers
(reachable, closed, with passwords, without TLS), a real outbox, the shipped unit, udev rule and
journald drop-in installed into a directory of the test's own (``Places``), the CLI's output.

The checks run as whoever runs the tests; the service user they judge for is named (``--user``):
``nobody`` where a test needs a user who may not do something."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from gateway import settings as gw_settings
from gateway.app import Gateway
from gateway.doctor import Box, Places, Verdict, build_box, examine, render
from gateway.doctor import checks as doctor_checks
from gateway.doctor.checks import (
    check_bluetooth,
    check_broker,
    check_clock,
    check_config,
    check_credentials,
    check_disk,
    check_journald,
    check_outbox,
    check_serial,
    check_service,
    check_state_dir,
    check_udev,
    check_unit,
    check_user,
)
from gateway.doctor.model import Finding, User, group_name, shipped
from gateway.events import EventDraft
from gateway.outbox import Outbox
from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress, BrokerOptions, PrivateBroker
from kernel.services.system import free_port
from tests.fixtures.gateway import collecting, gateway_settings, running
from tests.fixtures.process import ManagedProcess
from tests.fixtures.waiting import eventually, eventually_sync

OK, WARN, FAIL, SKIP = Verdict.OK, Verdict.WARN, Verdict.FAIL, Verdict.SKIP
ME = pwd.getpwuid(os.geteuid()).pw_name
HERE = Path(sys.executable).parent / "pinganling"
LOCAL = BrokerAddress("127.0.0.1", 1883)  # for the checks whose result does not depend on it


@pytest.fixture
def places(tmp_path: Path) -> Places:
    """A box's system directories, empty, under the test's own directory."""
    root = tmp_path / "box"
    p = Places(unit_dirs=(root / "etc/systemd/system",), udev_rules=root / "etc/udev/rules.d",
               journald=root / "etc/systemd/journald.conf.d", bluetooth=root / "sys/bluetooth",
               dev=root / "dev")
    for d in (*p.unit_dirs, p.udev_rules, p.journald, p.bluetooth, p.dev):
        d.mkdir(parents=True)
    return p


@pytest.fixture
def pty() -> Iterator[str]:
    """A pseudo-terminal standing in for the dongle: its path, its other end held here."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # nobody has the dongle's end open; the master keeps it alive
    yield path
    os.close(master)


def box(tmp_path: Path, places: Places, *, serial: Sequence[str] = (), ble: str = "none",
        broker: BrokerAddress = LOCAL, extra: str = "",
        mqtt: str = "", user: str = ME) -> Box:
    """A configuration of the test's own, read as the doctor reads it."""
    state = tmp_path / "state"
    config = tmp_path / "gateway.toml"
    serial_list = ", ".join(f'"{s}"' for s in serial)
    config.write_text(f'id = "gw-doc-{uuid.uuid4().hex[:8]}"\nstate_dir = "{state}"\n'
                      f"serial = [{serial_list}]\nble = \"{ble}\"\n{extra}"
                      f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n{mqtt}')
    return build_box(config, user=user, places=places)


def login(tmp_path: Path, broker: BrokerAddress, secret: Path | None = None) -> str:
    """The ``[mqtt]`` lines that log in as ``broker``'s identity (its password in a file)."""
    secret = secret or tmp_path / "mqtt.secret"
    secret.write_text(f"{broker.password}\n")
    secret.chmod(0o600)
    return f'username = "{broker.username}"\npassword_file = "{secret}"\n'


def state_dir(b: Box, mode: int = 0o700) -> Path:
    assert b.settings is not None
    b.settings.state_dir.mkdir(mode=mode, exist_ok=True)
    b.settings.state_dir.chmod(mode)
    return b.settings.state_dir


# ------------------------------------------------------------------------------ the dongle


def test_a_pty_as_the_dongle_opens_but_is_no_stable_name(tmp_path: Path, places: Places,
                                                         pty: str) -> None:
    found = check_serial(box(tmp_path, places, serial=[pty]), pty)
    assert found.verdict is WARN
    assert found.message.startswith(f"{pty} opens (crw")
    assert "is not a stable name" in found.message
    assert '"/dev/pinganling-rf0"' in found.fix
    assert "99-pinganling-rf.rules" in found.fix


def test_the_udev_rules_name_for_the_dongle_is_ok(tmp_path: Path, places: Places,
                                                  pty: str) -> None:
    link = places.dev / "pinganling-rf0"
    link.symlink_to(pty)
    shutil.copy(shipped("99-pinganling-rf.rules"), places.udev_rules)
    b = box(tmp_path, places, serial=[str(link)])
    serial, udev = check_serial(b, str(link)), check_udev(b)
    assert (serial.verdict, serial.message.split(" (")[0]) == (OK, f"{link} -> {pty} opens")
    assert (udev.verdict, udev.message) == (
        OK, f"{places.udev_rules / '99-pinganling-rf.rules'}: 3 rule(s) naming pinganling-rf0")


def test_a_missing_dongle_fails_and_says_how_to_find_it(tmp_path: Path, places: Places) -> None:
    link = places.dev / "pinganling-rf0"
    b = box(tmp_path, places, serial=[str(link)])
    missing = check_serial(b, str(link))
    assert missing.verdict is FAIL
    assert missing.message == (f"{link} does not exist: the dongle is unplugged, or no udev "
                               "rule names it")
    assert "ls -l /dev/serial/by-id/" in missing.fix
    link.symlink_to(places.dev / "ttyUSB7")  # what udev leaves when the device is gone
    assert "(a link to nothing)" in check_serial(b, str(link)).message
    no_rule = check_udev(b)
    assert no_rule.verdict is FAIL
    assert "is not installed" in no_rule.message
    assert no_rule.fix.startswith(f"install -m 644 {shipped('99-pinganling-rf.rules')} ")


def test_a_rule_that_does_not_name_the_configured_link_or_has_a_typo_fails(
        tmp_path: Path, places: Places) -> None:
    b = box(tmp_path, places, serial=[str(places.dev / "pinganling-rf1")])
    rules = places.udev_rules / "99-pinganling-rf.rules"
    shutil.copy(shipped("99-pinganling-rf.rules"), rules)
    unnamed = check_udev(b)
    assert unnamed.verdict is FAIL
    assert unnamed.message == f"no rule in {rules} names pinganling-rf1 (it names pinganling-rf0)"
    assert unnamed.fix == "add SYMLINK+=\"pinganling-rf1\" to the dongle's rule"
    rules.write_text('SUBSYSTEM="tty", ATTRS{idVendor}=="10c4", SYMLINK+="pinganling-rf1"\n')
    typo = check_udev(b)
    assert typo.verdict is FAIL
    assert "line 1: SUBSYSTEM=\"tty\": an assignment where a match ('==') was meant" in \
        typo.message


def test_a_service_user_who_may_not_open_the_dongle_is_told_which_group(
        tmp_path: Path, places: Places, pty: str) -> None:
    st = os.stat(pty)
    assert st.st_uid == os.geteuid()  # ours: we may change its mode
    os.chmod(pty, 0o600)
    b = box(tmp_path, places, serial=[pty], user="nobody")
    denied = check_serial(b, pty)
    assert denied.verdict is FAIL
    assert denied.message.startswith(f"nobody may not open {pty} (crw-------")
    assert 'GROUP="dialout", MODE="0660"' in denied.fix  # no group may open it: the rule
    os.chmod(pty, 0o660)
    group = check_serial(b, pty)
    assert group.verdict is FAIL
    tty_group = group_name(st.st_gid)
    assert group.fix == (f"usermod -aG {tty_group} nobody && "
                         "systemctl restart pinganling-gateway")


def test_a_dongle_held_by_another_program_is_named_and_not_opened(
        tmp_path: Path, places: Places, pty: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
         "os.O_NOCTTY); print('open', flush=True); sys.stdin.read()", pty],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "open\n"
        found = check_serial(box(tmp_path, places, serial=[pty]), pty)
    finally:
        holder.communicate("", timeout=10)
    assert found.verdict is FAIL
    assert found.message.startswith(f"{pty} is held open by pid {holder.pid} ({sys.executable}")
    assert "ModemManager" in found.fix


def test_a_dongle_the_running_gateway_holds_is_not_opened_again(
        tmp_path: Path, places: Places, pty: str, mqtt_broker: BrokerAddress,
        topics: Topics) -> None:
    b = box(tmp_path, places, serial=[pty], broker=mqtt_broker, mqtt=f'root = "{topics.root}"\n')
    assert b.config is not None
    gw = ManagedProcess(["pinganling.cli", "gateway", "run", "-c", str(b.config)],
                        tmp_path / "gateway.log", {"PINGANLING_LOG_LEVEL": "INFO"}).start()
    try:
        eventually_sync(lambda: gw.logged(f"serial link {pty} open"), 30, what="the gateway")
        found = check_serial(b, pty)
    finally:
        gw.stop()
    assert gw.proc is not None
    assert found.message.startswith(f"{pty} is open in the gateway (pid {gw.proc.pid}); not "
                                    "opened again")


# ------------------------------------------------------------------------------ files


def test_the_state_dir_must_exist_belong_to_the_user_and_be_private(
        tmp_path: Path, places: Places) -> None:
    b = box(tmp_path, places)
    assert b.settings is not None
    path = b.settings.state_dir
    missing = check_state_dir(b)
    assert (missing.verdict, missing.message) == (FAIL, f"{path} does not exist")
    assert missing.fix.startswith(f"install -d -m 700 -o {ME} -g {ME} {path}")

    state_dir(b, 0o755)
    open_to_all = check_state_dir(b)
    assert open_to_all.verdict is FAIL
    assert open_to_all.message.endswith("everyone may read it (elders' data)")
    assert open_to_all.fix == f"chmod -R o-rwx {path}"

    state_dir(b, 0o700)
    assert check_state_dir(b).verdict is OK
    (path / "gateway.sqlite3").write_bytes(b"")
    (path / "gateway.sqlite3").chmod(0o644)
    leaky = check_state_dir(b)
    assert (leaky.verdict, leaky.message.split(": ")[-1]) == (
        FAIL, "everyone may read gateway.sqlite3")

    someone_else = check_state_dir(replace(b, user=User.named("nobody"),
                                           user_name="nobody"))
    assert someone_else.verdict is FAIL
    assert f"owned by {ME}, not nobody; nobody may not write in it" in someone_else.message
    assert someone_else.fix.startswith(f"chown -R nobody:nobody {path}")


def test_a_credential_file_others_may_read_fails_with_the_chmod(tmp_path: Path,
                                                                places: Places) -> None:
    secret = tmp_path / "mqtt.secret"
    b = box(tmp_path, places, mqtt=f'username = "gw"\npassword_file = "{secret}"\n')
    gone = check_credentials(b)
    assert (gone.verdict, gone.message) == (FAIL, f"{secret} (mqtt.password_file) does not exist")
    assert gone.fix == "pinganling gateway provision --server URL --code CODE"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    readable = check_credentials(b)
    assert readable.verdict is FAIL
    assert readable.message == f"{secret} is -rw-r--r--: others may read the secret"
    assert readable.fix == f"chmod 600 {secret}"
    secret.chmod(0o600)
    fine = check_credentials(b)
    assert (fine.verdict, fine.message) == (OK, f"{secret} (-rw------- {ME}:"
                                                f"{group_name(os.getegid())})")
    none = check_credentials(box(tmp_path, places))
    assert none.verdict is WARN
    assert "no credential file configured" in none.message


def test_a_configuration_that_does_not_load_names_the_key_and_the_rest_is_skipped(
        tmp_path: Path, places: Places) -> None:
    b = box(tmp_path, places, extra='heartbeat_s = "often"\n')
    findings = {f.check: f for f in examine(b)}
    config = findings["config"]
    assert config.verdict is FAIL
    assert config.message == (f"{b.config}: heartbeat_s: Input should be a valid number, "
                              "unable to parse string as a number")
    for name in ("state dir", "credentials", "udev rule", "bluetooth", "broker", "disk",
                 "outbox"):
        assert findings[name].verdict is SKIP, name
    assert check_config(box(tmp_path, places)).verdict is OK


def test_the_service_user_must_exist_and_be_in_the_groups_it_needs(
        tmp_path: Path, places: Places) -> None:
    ghost = check_user(box(tmp_path, places, serial=["/dev/pinganling-rf0"],
                           user="pinganling-nobody-here"))
    assert ghost.verdict is FAIL
    assert ghost.fix.endswith("--groups dialout pinganling-nobody-here")
    lonely = check_user(box(tmp_path, places, serial=["/dev/pinganling-rf0"], user="nobody"))
    assert (lonely.verdict, lonely.message.split(" (")[0]) == (
        FAIL, "nobody is not in group dialout")
    assert lonely.fix == "usermod -aG dialout nobody && systemctl restart pinganling-gateway"


# ------------------------------------------------------------------------------ the broker


def test_a_reachable_broker_answers_connack(tmp_path: Path, places: Places,
                                           mqtt_broker: BrokerAddress) -> None:
    found = check_broker(box(tmp_path, places, broker=mqtt_broker,
                             mqtt=login(tmp_path, mqtt_broker)))
    assert (found.verdict, found.message) == (
        OK, f"{mqtt_broker.host}:{mqtt_broker.port} accepted {mqtt_broker.username} (MQTT 5)")


def test_a_closed_port_is_unreachable(tmp_path: Path, places: Places) -> None:
    port = free_port()  # nothing listens there
    found = check_broker(box(tmp_path, places, broker=BrokerAddress("127.0.0.1", port)))
    assert found.verdict is FAIL
    assert found.message == f"cannot reach the broker: 127.0.0.1:{port}: Connection refused"
    assert found.fix.startswith("check [mqtt] host and port in ")


def test_refused_credentials_say_so_and_how_to_fix_them(tmp_path: Path, places: Places) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gw-a", "right"],
                   check=True, capture_output=True)
    broker = PrivateBroker(tmp_path / "broker", options=BrokerOptions(
        persistence=False, password_file=passwords)).start()
    try:
        secret = tmp_path / "secret"
        secret.write_text("wrong\n")
        b = box(tmp_path, places, broker=broker.address,
                mqtt=f'username = "gw-a"\npassword_file = "{secret}"\n')
        refused = check_broker(b)
        secret.write_text("right\n")
        accepted = check_broker(b)
        anonymous = check_broker(box(tmp_path, places, broker=broker.address))
    finally:
        broker.kill()
    where = f"127.0.0.1:{broker.port}"
    assert refused.verdict is FAIL
    # Mosquitto answers a wrong password "Not authorized" (0x87) over MQTT 5
    assert refused.message == f"{where} refused the gateway's credentials (gw-a): Not authorized"
    assert "pinganling gateway provision --server URL --code CODE" in refused.fix
    assert (accepted.verdict, accepted.message) == (OK, f"{where} accepted gw-a (MQTT 5)")
    assert anonymous.verdict is FAIL
    assert "refused the gateway's credentials (anonymous)" in anonymous.message


def test_tls_to_a_plain_listener_fails_the_handshake(tmp_path: Path, places: Places,
                                                     mqtt_broker: BrokerAddress) -> None:
    b = replace(box(tmp_path, places, broker=mqtt_broker), tls=ssl.create_default_context())
    found = check_broker(b)
    assert found.verdict is FAIL
    assert found.message.startswith(f"TLS with {mqtt_broker.host}:{mqtt_broker.port} failed")
    assert found.message.endswith("(is it a TLS listener?)")


async def test_the_broker_check_does_not_disconnect_the_running_gateway(
        tmp_path: Path, places: Places, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    settings = gateway_settings(tmp_path, mqtt_broker, topics)
    gw = Gateway(settings)
    b = replace(box(tmp_path, places, broker=mqtt_broker), settings=settings)
    async with collecting(mqtt_broker, topics) as sub, running(gw):
        found = await asyncio.to_thread(check_broker, b)
        # an event sent after the check: had the check taken the gateway's session, the
        # gateway would have been disconnected before it could send this
        gw.events.emit(EventDraft(EventType.TEST, f"gw-{settings.id}"))
        await eventually(lambda: len(sub.by_id) == 1, 10, "the event after the check")
        assert (gw.counters["mqtt_connects"], gw.counters["mqtt_disconnects"]) == (1, 0)
    # the doctor logged in as the gateway's user, with a client id of its own
    assert (found.verdict, found.message) == (
        OK, f"{mqtt_broker.host}:{mqtt_broker.port} accepted {mqtt_broker.username} (MQTT 5)")


# ------------------------------------------------------------------------------ BLE


def test_bluetooth_is_not_checked_without_ble_and_fails_without_an_adapter(
        tmp_path: Path, places: Places, monkeypatch: pytest.MonkeyPatch) -> None:
    skipped = check_bluetooth(box(tmp_path, places, ble="none"))
    assert (skipped.verdict, skipped.message) == (SKIP, 'not checked: ble = "none"')
    b = box(tmp_path, places, ble="bleak")
    no_adapter = check_bluetooth(b)
    assert no_adapter.verdict is FAIL
    assert no_adapter.message.startswith("no Bluetooth adapter")
    (places.bluetooth / "hci0").mkdir()  # the kernel sees one; BlueZ is another matter
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    no_bluez = check_bluetooth(b)
    assert no_bluez.verdict is FAIL
    assert no_bluez.message.startswith("hci0 present, but BlueZ does not answer: cannot reach "
                                       "the system D-Bus")


# ------------------------------------------------------------------------------ systemd


def install_unit(places: Places, edit: dict[str, str] | None = None) -> Path:
    """The shipped unit, running this checkout's ``pinganling`` (it exists here)."""
    text = shipped("pinganling-gateway.service").read_text()
    text = text.replace("/opt/pinganling/bin/pinganling ", f"{HERE} ")
    for old, new in (edit or {}).items():
        assert old in text
        text = text.replace(old, new)
    unit = places.unit_dirs[0] / "pinganling-gateway.service"
    unit.write_text(text)
    return unit


def test_the_installed_shipped_unit_is_valid(tmp_path: Path, places: Places) -> None:
    assert check_unit(box(tmp_path, places)).verdict is FAIL  # not installed
    unit = install_unit(places)
    # the unit's own config path, as the doctor finds it without -c
    b = build_box(None, user=ME, places=places)
    assert b.config == Path("/etc/pinganling/gateway.toml")
    found = check_unit(replace(b, settings=gw_settings.load(shipped("gateway.toml"))))
    assert found.verdict is OK
    verified = "" if shutil.which("systemd-analyze") else \
        " (systemd-analyze not found: not verified)"
    assert found.message == f"{unit}: valid{verified}"


def test_a_unit_without_restart_watchdog_or_a_writable_state_fails(tmp_path: Path,
                                                                  places: Places) -> None:
    unit = install_unit(places, {"Restart=always": "Restart=no", "WatchdogSec=30\n": "",
                                 "ReadWritePaths=/var/lib/pinganling\n": ""})
    b = box(tmp_path, places)  # its state_dir is not under /var/lib/pinganling
    found = check_unit(b)
    assert found.verdict is FAIL
    assert f"{unit}: Restart=no: use Restart=always; no WatchdogSec=: a hung gateway would " \
           "never be restarted; ProtectSystem=strict, and " in found.message
    assert "is not under ReadWritePaths= or StateDirectory=" in found.message
    assert found.fix.startswith(f"compare with {shipped('pinganling-gateway.service')}")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine")
def test_systemd_analyze_complaints_fail_the_unit(tmp_path: Path, places: Places) -> None:
    install_unit(places, {"WatchdogSec=30": "WatchdogSec=30\nRestartSecs=5"})
    found = check_unit(box(tmp_path, places))
    assert found.verdict is FAIL
    assert "Unknown key 'RestartSecs' in section [Service]" in found.message


def test_the_service_must_be_enabled_and_running(tmp_path: Path, places: Places) -> None:
    install_unit(places)
    answers: dict[str, tuple[int, str, str]] = {}

    def systemctl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        code, out, err = answers[args[1]]
        return subprocess.CompletedProcess(list(args), code, out, err)

    # systemd's answers are given: this machine's systemd cannot run the test's unit
    b = replace(box(tmp_path, places), run=systemctl, which=lambda tool: f"/usr/bin/{tool}")
    answers.update({"is-enabled": (0, "enabled\n", ""), "is-active": (0, "active\n", "")})
    assert check_service(b).verdict is OK
    answers["is-active"] = (3, "failed\n", "")
    stopped = check_service(b)
    assert (stopped.verdict, stopped.message) == (
        FAIL, "pinganling-gateway.service is enabled but failed")
    assert "journalctl -u pinganling-gateway -n 50 --no-pager" in stopped.fix
    answers["is-enabled"] = (1, "disabled\n", "")
    disabled = check_service(b)
    assert disabled.verdict is FAIL
    assert disabled.fix == "systemctl enable --now pinganling-gateway.service"


def test_the_clock_must_be_synchronised(tmp_path: Path, places: Places) -> None:
    answer = ["yes"]

    def timedatectl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        assert list(args) == ["timedatectl", "show", "-p", "NTPSynchronized", "--value"]
        return subprocess.CompletedProcess(list(args), 0, answer[0] + "\n", "")

    # NTP cannot be unsynchronised on purpose here: timedated's answer is given
    b = replace(box(tmp_path, places), run=timedatectl, which=lambda tool: f"/usr/bin/{tool}")
    assert check_clock(b).verdict is OK
    answer[0] = "no"
    late = check_clock(b)
    assert late.verdict is FAIL
    assert "not synchronised (NTPSynchronized=no)" in late.message
    assert late.fix.startswith("timedatectl set-ntp true")
    unknown = check_clock(replace(b, which=lambda tool: None))
    assert unknown.verdict is SKIP
    assert "timedatectl is not installed" in unknown.message


def test_the_journald_drop_in_bounds_the_logs(tmp_path: Path, places: Places) -> None:
    b = box(tmp_path, places)
    assert check_journald(b).verdict is WARN
    shutil.copy(shipped("journald.conf.d/pinganling.conf"), places.journald)
    found = check_journald(b)
    assert found.verdict is OK
    assert "at most 200M" in found.message


# ------------------------------------------------------------------------------ state


def test_an_alarm_the_server_has_not_acknowledged_for_minutes_fails(tmp_path: Path,
                                                                     places: Places) -> None:
    b = box(tmp_path, places)
    assert b.settings is not None
    assert check_outbox(b).verdict is SKIP  # the gateway never ran
    then = time.time() - 600
    outbox = Outbox(b.settings.db_path, clock=lambda: then)
    try:
        outbox.add_event(lambda n: b'{"n": %d}' % n, alarm=True)
        outbox.add_telemetry([])
        stuck = check_outbox(b)  # read-only, beside the open outbox
    finally:
        outbox.close()
    assert stuck.verdict is FAIL
    assert stuck.message.startswith("1 alarm(s) not acknowledged by the server, the oldest "
                                    "since ")
    assert "(10 min ago); 1 waiting (alarms 1, events 0, telemetry 0)" in stuck.message
    outbox = Outbox(b.settings.db_path)
    outbox.acked([1])
    outbox.close()
    fine = check_outbox(b)
    assert (fine.verdict, fine.message) == (
        OK, "0 waiting (alarms 0, events 0, telemetry 0); telemetry shed so far: 0")


def test_little_free_disk_fails(tmp_path: Path, places: Places,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    b = box(tmp_path, places)
    assert check_disk(b).verdict is OK
    total = shutil.disk_usage(tmp_path).total
    monkeypatch.setattr(doctor_checks, "MIN_FREE", total + 1)  # this disk, as if nearly full
    found = check_disk(b)
    assert found.verdict is FAIL
    assert "the outbox may fail to store an alarm" in found.message


# ------------------------------------------------------------------------------ the doctor


def test_a_check_that_raises_is_reported_failed_and_the_others_still_run(
        tmp_path: Path, places: Places) -> None:
    def broken(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise RuntimeError(f"{args[0]} exploded")

    b = replace(box(tmp_path, places), run=broken, which=lambda tool: f"/usr/bin/{tool}")
    findings = examine(b)
    assert [f.check for f in findings] == [
        "config", "service user", "state dir", "credentials", "serial", "udev rule",
        "bluetooth", "broker", "clock", "unit file", "service", "logs", "disk", "outbox"]
    clock = next(f for f in findings if f.check == "clock")
    assert (clock.verdict, clock.message) == (
        FAIL, "the check itself failed: RuntimeError: timedatectl exploded")


def test_the_report_reads_one_line_per_check_with_its_fix(tmp_path: Path,
                                                          places: Places) -> None:
    findings = [Finding("config", OK, "fine"),
                Finding("credentials", FAIL, "x is -rw-r--r--", "chmod 600 x"),
                Finding("bluetooth", SKIP, 'not checked: ble = "none"', "n/a")]
    assert render(findings, unicode=True).splitlines() == [
        "✓ config      fine",
        "✗ credentials x is -rw-r--r--",
        "              fix: chmod 600 x",
        '- bluetooth   not checked: ble = "none"',
        "",
        "1 problem: the gateway is not ready; fix the first one first, then run the doctor again"]
    assert render(findings, unicode=False).splitlines()[:3] == [
        "OK   config      fine", "FAIL credentials x is -rw-r--r--",
        "                 fix: chmod 600 x"]


@pytest.mark.parametrize(("encoding", "failed"), [("utf-8", "✗ credentials"),
                                                  ("ascii", "FAIL credentials")])
def test_the_cli_tells_the_technician_what_is_wrong_and_how_to_fix_it(
        tmp_path: Path, places: Places, mqtt_broker: BrokerAddress, pty: str, encoding: str,
        failed: str) -> None:
    secret = tmp_path / "mqtt.secret"
    b = box(tmp_path, places, serial=[pty], broker=mqtt_broker,
            mqtt=login(tmp_path, mqtt_broker, secret))
    secret.chmod(0o644)  # readable by others, yet the right password: the broker accepts it
    state_dir(b)
    assert b.config is not None
    done = subprocess.run(
        [sys.executable, "-m", "pinganling.cli", "gateway", "doctor", "-c", str(b.config),
         "--user", ME], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "100"})
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pinganling gateway doctor: gw-doc-")
    first = next(i for i, text in enumerate(lines) if text.startswith(failed))
    fix = next(i for i in range(first, len(lines)) if lines[i].strip().startswith("fix: "))
    wrapped = " ".join(text.strip() for text in lines[first:fix])  # as the technician reads it
    assert wrapped == f"{failed}  {secret} is -rw-r--r--: others may read the secret"
    assert lines[fix].strip() == f"fix: chmod 600 {secret}"
    ok = "✓" if encoding == "utf-8" else "OK  "
    assert f"{ok} broker" in done.stdout
    assert f"{ok} state dir" in done.stdout
    assert "problem" in lines[-1]
    if encoding == "ascii":
        assert done.stdout.isascii()
