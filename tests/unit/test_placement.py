"""One placement vocabulary: the catalogue, the shipped parameters, the datasets and the
detectors all speak ``kernel.placement.Placement``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.bank import FallBank
from analytics.datasets import load_subject
from analytics.errors import DatasetError, InputError
from analytics.params import load_params
from hardware.catalog import MODELS
from kernel.placement import Placement


def test_every_worn_model_has_shipped_parameters_of_its_own_placement() -> None:
    worn = [m for m in MODELS.values() if m.placement is not None]
    assert {m.placement for m in worn} == set(Placement)
    for m in worn:
        assert m.placement is not None
        params = load_params(m.placement)
        assert params.placement is m.placement, "the JSON string parses to the very member"
        assert json.loads(params.to_json())["placement"] == m.placement.value


def _subject_file(path: Path, placement: str) -> Path:
    np.savez(path, acc=np.zeros((10, 3), np.int16), scale_g=1.0, fs=50.0,
             offsets=np.array([0, 10]), trial=np.array(["D01_S1_R01"]),
             activity=np.array(["D01"]), is_fall=np.array([False]), onset=np.array([-1]),
             placement=placement)
    return path


def test_a_dataset_file_gives_a_placement_or_a_clear_error(tmp_path: Path) -> None:
    subject = load_subject(_subject_file(tmp_path / "S1.npz", "wrist"))
    assert subject.placement is Placement.WRIST
    assert subject.trials[0].placement is Placement.WRIST
    with pytest.raises(DatasetError, match=r"A1\.npz: unknown placement 'ankle'"):
        load_subject(_subject_file(tmp_path / "A1.npz", "ankle"))


def test_the_bank_refuses_an_unknown_placement_and_takes_a_plain_string() -> None:
    bank = FallBank()
    with pytest.raises(InputError, match="placement must be one of"):
        bank.add("d1", "ankle", 50.0)  # type: ignore[arg-type]
    bank.add("d2", "waist", 50.0)  # type: ignore[arg-type]  # a caller without types
    assert "d2" in bank
