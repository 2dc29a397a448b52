"""``pinganling sim``: frames, a technician's press over a real pty, runs, clear errors."""

from __future__ import annotations

import os
import select
from pathlib import Path

import pytest

from firmware_sim.cli import main
from hardware.frames import Deframer, Frame, MsgType, data_fields, decode_frame
from tests.unit.test_sim_scenarios import SMALL


def read_master(fd: int, timeout_s: float = 5.0) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    return os.read(fd, 4096) if ready else b""


def test_frames_prints_one_decodable_frame_per_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frames", "--device", "0x12345678"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [t.name for t in MsgType]
    for line in lines:
        name, *tokens = line.split()
        hexes = [t for t in tokens if "=" not in t]
        frame, n = decode_frame(bytes.fromhex("".join(hexes)))
        assert isinstance(frame, Frame)
        assert frame.type is MsgType[name]
        assert frame.device_id == 0x12345678
        assert n == len(hexes)


@pytest.mark.parametrize(("flag", "kind"), [(None, MsgType.PRESS), ("--long", MsgType.LONG_PRESS),
                                            ("--cancel", MsgType.CANCEL)])
def test_press_writes_one_frame_to_a_serial_port(
    flag: str | None, kind: MsgType, capsys: pytest.CaptureFixture[str]
) -> None:
    master, slave = os.openpty()
    try:
        args = ["press", "--port", os.ttyname(slave), "--device", "0x0A1B2C3D"]
        assert main(args + ([flag] if flag else [])) == 0
        frames = Deframer().feed(read_master(master))
    finally:
        os.close(master)
        os.close(slave)
    assert [(f.type, f.device_id) for f in frames] == [(kind, 0x0A1B2C3D)]
    if kind is not MsgType.CANCEL:
        assert data_fields(frames[0]) == {"input": "main"}
    assert "from rf-0a1b2c3d to " in capsys.readouterr().out


def test_run_plays_a_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    assert main(["run", str(path), "--speed", "max", "--link", "loop://"]) == 0
    out = capsys.readouterr().out
    assert "serial link: loop://" in out
    assert "10:00:05 sent press from rf-0a1b2c3d (button)" in out
    assert "10:00:08 sent cancel from rf-0a1b2c3d (button)" in out
    assert out.index("10:00:05 sent press") < out.index("10:00:20 sent long press")
    assert "done: " in out


def test_run_with_a_start_time_skips_the_morning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "demo", "--speed", "max", "--link", "loop://", "--start", "10:03:30"]) == 0
    out = capsys.readouterr().out
    assert "sent long press" in out
    assert "sent door open" not in out  # 10:00:20, before the start


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["press", "--port", "loop://", "--device", "kettle"], "is not a number"),
     (["press", "--port", "loop://", "--device", "0x100000000"], "does not fit 32 bits"),
     (["run", "demo", "--speed", "-3"], "must be a positive number"),
     (["run", "demo", "--start", "7pm"], "is not HH:MM"),
     (["press", "--port", "loop://", "--device", "1", "--long", "--cancel"], "not allowed")],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["run", "nope"], "no scenario 'nope'"),
     (["press", "--port", "/dev/does-not-exist-pal", "--device", "1"], "cannot open"),
     (["press", "--port", "loop://", "--device", "1", "--model", "PIR-433"], "not a button"),
     (["press", "--port", "loop://", "--device", "1", "--model", "XX"], "unknown device model"),
     (["run", "demo", "--link", "tcp://nohost"], "expected tcp://HOST:PORT")],
)
def test_failures_are_one_line_without_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("pinganling sim: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_scenarios_lists_the_shipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["day", "demo", "newhome", "quiet"]
