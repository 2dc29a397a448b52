"""Reader for the fall-evaluation data format of ``shared/datasets/README.md``.

The only I/O in the package besides the CLIs. The data is found through ``PINGANLING_DATASETS``
or at ``<repo>/../shared/datasets``; it is never copied into the repository.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from analytics.errors import DatasetError
from kernel.placement import Placement

ENV_VAR = "PINGANLING_DATASETS"
KEYS = ("acc", "scale_g", "fs", "offsets", "trial", "activity", "is_fall", "onset")


def default_root() -> Path:
    """``$PINGANLING_DATASETS`` or ``<repo>/../shared/datasets``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True, slots=True)
class Trial:
    """One recording: ``acc`` (n, 3) in g at ``fs``; ``onset`` sample index or -1."""

    dataset: str
    subject: str
    placement: Placement
    name: str
    activity: str
    is_fall: bool
    onset: int
    fs: float
    acc: npt.NDArray[np.float64]

    @property
    def duration_s(self) -> float:
        return len(self.acc) / self.fs


@dataclass(frozen=True, slots=True)
class Subject:
    dataset: str
    subject: str
    placement: Placement
    age_group: str
    path: Path
    trials: tuple[Trial, ...]


def _scalar(z: np.lib.npyio.NpzFile, key: str, default: str) -> str:
    return str(z[key]) if key in z.files else default


def _placement(path: Path, value: str) -> Placement:
    try:
        return Placement(value)
    except ValueError:
        raise DatasetError(f"{path}: unknown placement {value!r}; known: "
                           f"{[str(p) for p in Placement]}") from None


def load_subject(path: Path) -> Subject:
    """Read one subject file; raise DatasetError when it does not follow the format."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise DatasetError(f"{path}: missing keys {missing}")
            acc = z["acc"].astype(np.float64) * float(z["scale_g"])
            fs, off = float(z["fs"]), z["offsets"].astype(np.int64)
            names, acts = z["trial"], z["activity"]
            falls, onsets = z["is_fall"].astype(bool), z["onset"].astype(np.int64)
            ds = _scalar(z, "dataset", path.parent.name)
            subj = _scalar(z, "subject", path.stem)
            place = _placement(path, _scalar(z, "placement", Placement.WAIST))
            age = _scalar(z, "age_group", "")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: {exc}") from None
    n = len(names)
    if acc.ndim != 2 or acc.shape[1] != 3 or len(off) != n + 1 or off[-1] != len(acc):
        raise DatasetError(f"{path}: acc/offsets shapes do not agree")
    if not (len(acts) == len(falls) == len(onsets) == n) or fs <= 0:
        raise DatasetError(f"{path}: per-trial arrays differ in length or fs <= 0")
    trials = tuple(
        Trial(ds, subj, place, str(names[i]), str(acts[i]), bool(falls[i]), int(onsets[i]), fs,
              acc[off[i] : off[i + 1]])
        for i in range(n)
    )
    return Subject(ds, subj, place, age, path, trials)


def find_files(root: Path) -> list[Path]:
    """Every ``.npz`` under ``root`` (recursively), sorted."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory")
    return sorted(root.rglob("*.npz"))


def iter_subjects(root: Path) -> Iterator[Subject]:
    for path in find_files(root):
        yield load_subject(path)
