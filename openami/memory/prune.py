"""Which entries to keep when shrinking a memory while keeping its coverage of latent space."""

from __future__ import annotations

import numpy as np

_BLOCK = 1024  # rows decided together: one (block, kept) distance matrix at a time
_KEPT_CHUNK = 65536  # kept rows compared at once, bounding a (block, chunk) matrix to 256 MiB


def keep_every(n: int, every: int) -> np.ndarray:
    """Mask (n,) keeping rows 0, every, 2*every, ..."""
    if every < 1:
        raise ValueError(f"keep_every must be at least 1, got {every}")
    return np.arange(n) % every == 0


def greedy_cover(z: np.ndarray, min_distance: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Mask (N,) of rows of z (N, D) kept by a greedy pass in row order.

    A row is kept unless it lies strictly within `min_distance` (L2) of a row kept before it,
    so every dropped row has a kept neighbour within `min_distance`, and kept rows are at
    least `min_distance` apart. Rows where `mask` is False are dropped and cover nothing.
    Cost: O(N * kept * D).
    """
    if not min_distance > 0:
        raise ValueError(f"min_distance must be positive, got {min_distance}")
    n = len(z)
    keep = np.zeros(n, bool)
    candidate = np.ones(n, bool) if mask is None else mask.copy()
    r2 = float(min_distance) ** 2
    sqnorm = np.einsum("nd,nd->n", z, z)
    kept_rows: list[np.ndarray] = []
    for lo in range(0, n, _BLOCK):
        rows = lo + np.flatnonzero(candidate[lo : lo + _BLOCK])
        if len(rows) == 0:
            continue
        if kept_rows:
            rows = rows[~_covered(z, sqnorm, rows, np.concatenate(kept_rows), r2)]
        chosen = _greedy_within(z[rows], r2)
        keep[rows[chosen]] = True
        kept_rows.append(rows[chosen])
    return keep


def _covered(z: np.ndarray, sqnorm: np.ndarray, rows: np.ndarray, kept: np.ndarray, r2: float) -> np.ndarray:
    """Mask (len(rows),): which rows lie within sqrt(r2) of any kept row."""
    covered = np.zeros(len(rows), bool)
    x, xn = z[rows], sqnorm[rows][:, None]
    for lo in range(0, len(kept), _KEPT_CHUNK):
        k = kept[lo : lo + _KEPT_CHUNK]
        d2 = xn - 2.0 * (x @ z[k].T) + sqnorm[k]  # (rows, chunk)
        covered |= (d2 < r2).any(axis=1)
    return covered


def _greedy_within(x: np.ndarray, r2: float) -> np.ndarray:
    """Indices of x (B, D) kept by the greedy pass among themselves, in order."""
    sq = np.einsum("bd,bd->b", x, x)
    d2 = sq[:, None] - 2.0 * (x @ x.T) + sq[None, :]  # (B, B)
    alive = np.ones(len(x), bool)
    chosen = []
    for i in range(len(x)):
        if alive[i]:
            chosen.append(i)
            alive[i + 1 :] &= d2[i, i + 1 :] >= r2
    return np.asarray(chosen, np.int64)
