"""evaluate's degradation options and wearer-day figures, on one real wrist subject."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from analytics import evaluate
from analytics.datasets import default_root
from analytics.degrade import Degradation


def _one_wrist_subject(tmp_path: Path) -> Path:
    src = default_root() / "weda-fall" / "U01.npz"
    if not src.exists():
        pytest.skip(f"dataset file {src} not available (set PINGANLING_DATASETS)")
    (tmp_path / "weda-fall").mkdir()
    (tmp_path / "weda-fall" / src.name).symlink_to(src)
    return tmp_path


def test_degrade_options_build_the_condition() -> None:
    ap = argparse.ArgumentParser()
    evaluate.add_degrade_args(ap)
    args = ap.parse_args(["--rate", "20", "--range", "8", "--drop", "0.02", "--flip", "x",
                          "--rotate", "5", "--gain", "0.05", "--bits", "12", "--repeat", "0.01"])
    assert evaluate.degradations_from(args) == [Degradation(
        fs=20.0, range_g=8.0, bits=12, p_drop=0.02, p_repeat=0.01, flip="x", rotate_deg=5.0,
        gain=0.05)]
    assert evaluate.degradations_from(ap.parse_args([])) == [Degradation()]
    assert evaluate.degradations_from(ap.parse_args(["--robustness"])) == list(
        evaluate.ROBUSTNESS)


def test_cli_degrades_the_input_and_reports_wearer_days(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _one_wrist_subject(tmp_path)
    assert evaluate.main([str(root), "--rate", "20", "--flip", "x", "--drop", "0.02",
                          "--days", "--json"]) == 0
    out = capsys.readouterr().out
    assert "input: 20 Hz, drop 2 %, flip x" in out
    report = json.loads(out.strip().splitlines()[-1])
    (cond,) = report["conditions"]
    assert cond["degradation"]["fs"] == 20.0
    (res,) = report["results"]
    assert res["placement"] == "wrist"
    assert res["falls"] > 10
    assert res["sensitivity"] > 0.7
    (day,) = report["days"]
    assert day["wearers"] == 1
    assert day["false_alarms_per_day"] == pytest.approx(day["alerts"] / (day["hours"] / 16.0),
                                                        rel=1e-3)
