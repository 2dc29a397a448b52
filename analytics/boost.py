"""Gradient-boosted shallow trees on logistic loss: numpy fitting, vectorised prediction.

Small on purpose: a few hundred depth-2 trees over a dozen physics features. Fitting (used only by
:mod:`analytics.tune`) bins each feature at its quantiles and finds splits from per-bin gradient
histograms; prediction walks all candidates through each tree at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Forest:
    """Trees stored as flat arrays; node ``i`` of tree ``t`` is ``[t, i]``.

    An inner node sends a row left when ``x[feature] <= threshold``; a leaf has ``feature == -1``
    and adds ``value`` to the score. Children of node ``i`` are ``2i+1`` and ``2i+2``.
    """

    base: float
    feature: I64  # (trees, nodes)
    threshold: F64  # (trees, nodes)
    value: F64  # (trees, nodes)

    @property
    def depth(self) -> int:
        return int(np.log2(self.feature.shape[1] + 1)) - 1

    def decision(self, x: F64) -> F64:
        """Raw score (log-odds) of each row of ``x`` (shape ``(k, features)``)."""
        x = np.asarray(x, dtype=np.float64)
        k, trees = x.shape[0], self.feature.shape[0]
        if k == 0:
            return np.full(0, self.base)
        t = np.arange(trees)[None, :]
        node = np.zeros((k, trees), dtype=np.int64)
        rows = np.arange(k)[:, None]
        for _ in range(self.depth):
            f = self.feature[t, node]
            go_right = x[rows, np.maximum(f, 0)] > self.threshold[t, node]
            node = np.where(f >= 0, 2 * node + 1 + go_right, node)
        return np.asarray(self.base + self.value[t, node].sum(axis=1), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BoostConfig:
    rounds: int = 150
    learning_rate: float = 0.1
    depth: int = 2
    min_leaf: int = 5
    l2: float = 1.0
    bins: int = 32


def _bin_edges(x: F64, bins: int) -> list[F64]:
    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, j], qs)) for j in range(x.shape[1])]


def _best_split(
    xb: I64, g: F64, h: F64, idx: I64, edges: list[F64], cfg: BoostConfig
) -> tuple[int, int] | None:
    """Best (feature, bin) split of the rows ``idx`` by second-order gain, or None."""
    gs, hs, n = g[idx].sum(), h[idx].sum(), len(idx)
    parent = gs * gs / (hs + cfg.l2)
    best_gain, best = 1e-12, None
    for j, e in enumerate(edges):
        nb = len(e) + 1
        b = xb[idx, j]
        gl = np.cumsum(np.bincount(b, weights=g[idx], minlength=nb))[:-1]
        hl = np.cumsum(np.bincount(b, weights=h[idx], minlength=nb))[:-1]
        nl = np.cumsum(np.bincount(b, minlength=nb))[:-1]
        ok = (nl >= cfg.min_leaf) & (n - nl >= cfg.min_leaf)
        if not ok.any():
            continue
        gain = gl**2 / (hl + cfg.l2) + (gs - gl) ** 2 / (hs - hl + cfg.l2) - parent
        gain = np.where(ok, gain, -np.inf)
        i = int(np.argmax(gain))
        if gain[i] > best_gain:
            best_gain, best = float(gain[i]), (j, i)
    return best


def fit(x: F64, y: F64, cfg: BoostConfig, weight: F64 | None = None) -> Forest:
    """Fit a forest to features ``x`` (k, d) and labels ``y`` in {0, 1}."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=np.float64)
    edges = _bin_edges(x, cfg.bins)
    xb = np.stack([np.searchsorted(e, x[:, j], side="left") for j, e in enumerate(edges)], axis=1)
    prior = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
    base = float(np.log(prior / (1 - prior)))
    nodes = 2 ** (cfg.depth + 1) - 1
    feat = np.full((cfg.rounds, nodes), -1, dtype=np.int64)
    thr = np.zeros((cfg.rounds, nodes))
    val = np.zeros((cfg.rounds, nodes))
    score = np.full(len(y), base)
    for t in range(cfg.rounds):
        p = 1.0 / (1.0 + np.exp(-score))
        g, h = w * (p - y), w * p * (1.0 - p)
        stack: list[tuple[int, I64, int]] = [(0, np.arange(len(y)), 0)]
        while stack:
            node, idx, level = stack.pop()
            split = _best_split(xb, g, h, idx, edges, cfg) if level < cfg.depth else None
            if split is None:
                val[t, node] = -cfg.learning_rate * g[idx].sum() / (h[idx].sum() + cfg.l2)
                score[idx] += val[t, node]
                continue
            j, b = split
            feat[t, node], thr[t, node] = j, edges[j][b]
            left = xb[idx, j] <= b
            stack += [(2 * node + 1, idx[left], level + 1), (2 * node + 2, idx[~left], level + 1)]
    return Forest(base, feat, thr, val)
