"""The evaluation protocol, the CLI on a tiny subset of the real data, and the fitting helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics import boost, evaluate, tune
from analytics.datasets import default_root, load_subject
from analytics.errors import DatasetError
from analytics.evaluate import TrialOutcome, summarise_group
from kernel.placement import Placement

SUBSET = {"sisfall": ["SA02", "SE02"], "weda-fall": ["U01", "U21"]}


def _outcome(is_fall: bool, onset: float | None, decisions: tuple[float, ...],
             duration: float = 15.0) -> TrialOutcome:
    return TrialOutcome("ds", Placement.WAIST, "S1", "t", is_fall, onset, duration, decisions)


def test_protocol_window_delay_and_false_alarms() -> None:
    outs = [
        _outcome(True, 5.0, (4.2,)),  # 0.8 s before onset: inside [-1, +10]
        _outcome(True, 5.0, (3.5, 9.0)),  # first is too early, second hits: delay 4 s
        _outcome(True, 5.0, (15.5,)),  # 10.5 s late: missed, counted as "other"
        _outcome(True, None, (7.0,)),  # no onset: any alert detects, no delay
        _outcome(False, None, (), duration=1800.0),
        _outcome(False, None, (2.0, 70.0), duration=1800.0),
    ]
    r = summarise_group(outs)
    assert r.falls == 4
    assert r.detected == 3
    assert r.sensitivity == 0.75
    assert r.adls == 2
    assert r.specificity == 0.5
    assert r.false_positive_trials == 1
    assert r.false_alarms_per_hour == pytest.approx(2.0)
    assert r.median_delay_s == pytest.approx(np.median([-0.8, 4.0]))
    assert r.other_alerts_in_falls == 2


def _subset(tmp_path: Path) -> Path:
    root = default_root()
    for ds, names in SUBSET.items():
        (tmp_path / ds).mkdir()
        for n in names:
            src = root / ds / f"{n}.npz"
            if not src.exists():
                pytest.skip(f"dataset file {src} not available (set PINGANLING_DATASETS)")
            (tmp_path / ds / src.name).symlink_to(src)
    return tmp_path


def test_cli_on_two_subjects_per_dataset(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main([str(_subset(tmp_path)), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    out = json.loads(lines[-1])
    rows = {(r["dataset"], r["placement"]): r for r in out["results"]}
    assert set(rows) == {("sisfall", Placement.WAIST), ("weda-fall", Placement.WRIST)}
    keys = {"sensitivity", "specificity", "false_alarms_per_hour", "median_delay_s", "falls",
            "adls"}
    for r in rows.values():
        assert keys <= set(r)
        assert r["subjects"] == 2
        assert r["falls"] > 10
        assert r["adls"] > 10
        assert r["sensitivity"] > 0.8
        assert r["specificity"] > 0.8
        assert 0 < r["median_delay_s"] < 10
    assert 1.0 < rows[("sisfall", Placement.WAIST)]["median_delay_s"] < 4.0


def test_cli_reports_a_broken_file_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert evaluate.main([str(tmp_path)]) == 2
    with pytest.raises(DatasetError):
        load_subject(tmp_path / "junk.npz")


def test_boost_learns_an_interaction_and_scores_match_labels() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = ((x[:, 0] > 0) & (x[:, 1] > 0)).astype(float)
    forest = boost.fit(x, y, boost.BoostConfig(rounds=60))
    pred = forest.decision(x) > 0
    assert (pred == y.astype(bool)).mean() > 0.95
    assert forest.decision(np.zeros((0, 3))).shape == (0,)


def test_threshold_keeps_the_target_specificity() -> None:
    c = tune.Candidates(
        x=np.zeros((6, 1)), label=np.array([1, 0, 0, 0, 0, 0]),
        trial=np.array([0, 1, 2, 3, 4, 5]), subject=["a"] * 6,
        is_fall=[True, False, False, False, False, False],
    )
    score = np.array([5.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    th = tune.choose_threshold(c, score, spec_target=0.8)  # one false positive of five allowed
    assert 2.0 < th <= 3.0 + 1e-9


def test_folds_are_subject_wise_and_spread_fall_subjects() -> None:
    subjects = [load_subject(p) for p in sorted((default_root() / "weda-fall").glob("*.npz"))]
    if not subjects:
        pytest.skip("WEDA-FALL files not available (set PINGANLING_DATASETS)")
    folds = tune.assign_folds(subjects, 5)
    assert set(folds) == {s.subject for s in subjects}
    with_falls = [s.subject for s in subjects if any(t.is_fall for t in s.trials)]
    assert len({folds[s] for s in with_falls}) == 5
