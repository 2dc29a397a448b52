"""The field build's files as shipped (hardware/field/), and the parsers the doctor reads them
with: the unit file (also by ``systemd-analyze verify`` where it is installed), the udev rule,
the journald and timesyncd drop-ins, the example configuration."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import settings as gw_settings
from gateway.doctor.model import shipped
from gateway.field_files import parse_udev_rules, parse_unit

FIELD = Path(__file__).resolve().parents[2] / "hardware" / "field"


def test_the_doctor_finds_the_shipped_files_where_the_repository_has_them() -> None:
    assert shipped("pinganling-gateway.service") == FIELD / "pinganling-gateway.service"
    for name in ("pinganling-gateway.service", "99-pinganling-rf.rules", "gateway.toml",
                 "journald.conf.d/pinganling.conf", "timesyncd.conf.d/pinganling.conf"):
        assert shipped(name).is_file(), name


# ------------------------------------------------------------------------------ the unit


def test_the_shipped_unit_restarts_a_hung_gateway_as_a_user_of_its_own() -> None:
    unit = parse_unit((FIELD / "pinganling-gateway.service").read_text())
    assert unit.problems == []
    svc = "Service"
    assert unit.value(svc, "Type") == "notify"  # READY=1 from the gateway
    assert unit.value(svc, "Restart") == "always"
    assert int(unit.value(svc, "RestartSec") or 0) > 0
    assert int(unit.value(svc, "WatchdogSec") or 0) > 0
    assert unit.value(svc, "User") == "pinganling"
    assert unit.value("Unit", "StartLimitIntervalSec") == "0"  # never gives up
    for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "UMask": "0077",
                       "StateDirectoryMode": "0700"}.items():
        assert unit.value(svc, key) == value, key
    assert unit.values(svc, "CapabilityBoundingSet") == []  # an empty assignment: none
    assert unit.value("Install", "WantedBy") == "multi-user.target"


def test_the_shipped_unit_may_write_where_the_shipped_config_keeps_the_state() -> None:
    unit = parse_unit((FIELD / "pinganling-gateway.service").read_text())
    config = gw_settings.load(FIELD / "gateway.toml")
    writable = [Path(p) for p in unit.values("Service", "ReadWritePaths")]
    assert config.state_dir in writable
    assert Path("/var/lib") / (unit.value("Service", "StateDirectory") or "") == config.state_dir
    assert config.mqtt.password_file is not None
    assert config.state_dir in config.mqtt.password_file.parents  # beside the state, 0700
    exec_start = (unit.value("Service", "ExecStart") or "").split()
    assert exec_start[1:4] == ["gateway", "run", "-c"]
    assert exec_start[4] == "/etc/pinganling/gateway.toml"


def test_the_shipped_config_names_the_dongle_by_the_udev_rules_name() -> None:
    config = gw_settings.load(FIELD / "gateway.toml")
    rules, problems = parse_udev_rules((FIELD / "99-pinganling-rf.rules").read_text())
    assert problems == []
    links = {f"/dev/{link}" for r in rules for link in r.assigned("SYMLINK")}
    assert config.serial == ("/dev/pinganling-rf0",)
    assert set(config.serial) <= links
    assert config.ble == "bleak"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine: the unit is only "
                           "parsed by gateway.field_files here")
def test_systemd_analyze_verify_accepts_the_shipped_unit(tmp_path: Path) -> None:
    # The unit runs /opt/pinganling/bin/pinganling; here the same command is this checkout's.
    here = Path(sys.executable).parent / "pinganling"
    assert here.exists()
    text = (FIELD / "pinganling-gateway.service").read_text()
    assert "/opt/pinganling/bin/pinganling " in text
    unit = tmp_path / "pinganling-gateway.service"
    unit.write_text(text.replace("/opt/pinganling/bin/pinganling ", f"{here} "))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine")
def test_systemd_analyze_verify_names_a_typo(tmp_path: Path) -> None:
    """The doctor relies on its complaints on stderr: it exits 0 on most of them."""
    here = Path(sys.executable).parent / "pinganling"
    text = (FIELD / "pinganling-gateway.service").read_text()
    unit = tmp_path / "pinganling-gateway.service"
    unit.write_text(text.replace("/opt/pinganling/bin/pinganling ", f"{here} ")
                    .replace("WatchdogSec=30", "WatchdogSec=thirty"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert "thirty" in done.stderr


def test_parse_unit_reads_continuations_resets_and_repeated_keys() -> None:
    unit = parse_unit("# comment\n[Unit]\nDescription=a \\\n  b\n; other comment\n"
                      "[Service]\nReadWritePaths=/a\nReadWritePaths=/b\nEnvironment=X=1\n"
                      "DeviceAllow=/x\nDeviceAllow=\nDeviceAllow=/y\n")
    assert unit.problems == []
    assert unit.value("Unit", "Description") == "a b"
    assert unit.values("Service", "ReadWritePaths") == ["/a", "/b"]
    assert unit.value("Service", "Environment") == "X=1"
    assert unit.values("Service", "DeviceAllow") == ["/y"]
    assert unit.value("Service", "Missing") is None


def test_parse_unit_names_every_broken_line() -> None:
    unit = parse_unit("Type=simple\n[Service]\nRestart always\n[Service]\n[Broken\n")
    assert unit.problems == [
        "line 1: Type= is outside any [section]",
        "line 3: not a Key=value line: 'Restart always'",
        "line 4: section [Service] given twice",
        "line 5: bad section header '[Broken'",
    ]


# ------------------------------------------------------------------------------ the udev rule


def test_the_shipped_rule_names_the_dongle_for_dialout_and_keeps_modemmanager_away() -> None:
    rules, problems = parse_udev_rules((FIELD / "99-pinganling-rf.rules").read_text())
    assert problems == []
    chips = {(r.matches("ATTRS", "idVendor")[0], r.matches("ATTRS", "idProduct")[0])
             for r in rules}
    assert chips == {("10c4", "ea60"), ("1a86", "7523"), ("0403", "6001")}  # CP210x CH340 FTDI
    for rule in rules:
        assert rule.matches("SUBSYSTEM") == ["tty"]
        assert rule.assigned("SYMLINK") == ["pinganling-rf0"]
        assert rule.assigned("GROUP") == ["dialout"]
        assert rule.assigned("MODE") == ["0660"]
        assert any(k.key == "ENV" and k.attr == "ID_MM_DEVICE_IGNORE" and k.value == "1"
                   for k in rule.keys)


@pytest.mark.parametrize(("line", "problem"), [
    ('SUBSYSTEM="tty", SYMLINK+="x"',
     "SUBSYSTEM=\"tty\": an assignment where a match ('==') was meant; udev ignores it"),
    ('SUBSYSTEM=="tty", MODE=="0660"', "MODE==: MODE is assigned ('=' or '+='), never matched"),
    ('SUBSYSTEM=="tty", MODE="rw"', 'MODE="rw": an octal mode such as "0660"'),
    ('SUBSYSTEMS=="usb", COLOUR="red"', "unknown key COLOUR"),
    ('ATTR=="x", SYMLINK+="y"', "ATTR needs {attribute}"),
    ('KERNEL{x}=="ttyUSB0"', "KERNEL takes no {attribute}"),
    ('KERNEL=="ttyUSB0" SYMLINK+="x"', "KERNEL: expected ',' before 'SYMLINK+=\"x\"'"),
    ('KERNEL=="ttyUSB0", SYMLINK+="x', "SYMLINK: the value's closing quote is missing"),
    ('KERNEL=="ttyUSB0",', "the line ends with ','"),
    ("KERNEL=ttyUSB0", "cannot read a KEY==\"value\" at 'KERNEL=ttyUSB0'"),
])
def test_the_rule_parser_names_the_mistake(line: str, problem: str) -> None:
    _, problems = parse_udev_rules(f"# a comment\n\n{line}\n")
    assert problems == [f"line 3: {problem}"]


def test_the_rule_parser_reads_continued_lines_and_escaped_quotes() -> None:
    rules, problems = parse_udev_rules(
        'SUBSYSTEM=="tty", \\\n  ATTRS{serial}=="A\\"1", SYMLINK+="a b"\n')
    assert problems == []
    (rule,) = rules
    assert rule.line == 1
    assert rule.matches("ATTRS", "serial") == ['A\\"1']
    assert rule.assigned("SYMLINK") == ["a b"]


# ------------------------------------------------------------------------------ drop-ins


def test_the_journald_drop_in_keeps_a_bounded_journal_across_reboots() -> None:
    conf = parse_unit((FIELD / "journald.conf.d" / "pinganling.conf").read_text())
    assert conf.problems == []
    assert conf.value("Journal", "Storage") == "persistent"
    assert conf.value("Journal", "SystemMaxUse") == "200M"
    assert conf.value("Journal", "SystemKeepFree")


def test_the_timesyncd_drop_in_names_servers_reachable_from_china() -> None:
    conf = parse_unit((FIELD / "timesyncd.conf.d" / "pinganling.conf").read_text())
    assert conf.problems == []
    assert "ntp.aliyun.com" in (conf.value("Time", "NTP") or "").split()
    assert conf.value("Time", "FallbackNTP")
