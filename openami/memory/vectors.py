"""Embeddings held in memory as one contiguous float32 matrix, and exact L2 search over it.

Exact search is a matrix product, ||q - x||² = ||q||² - 2 q·x + ||x||², over precomputed row
norms, then a top-k. On a CPU a single query is bound by memory bandwidth (the whole matrix
is read once), so the matrix is kept float32 and contiguous and grown by doubling, never
re-concatenated per add. numpy's gemv reads a row-major matrix faster than torch.mv does,
and torch.topk beats np.argpartition on a million distances; hence the mix.
"""

from __future__ import annotations

import numpy as np

_BLOCK_FLOATS = 1 << 24  # bounds the (Q, rows) distance block of a batched query to 64 MiB


class Vectors:
    """Rows of embeddings (N, D) with their squared norms and store ids, in id order."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self.n = 0
        self._z = np.empty((max(capacity, 1), dim), np.float32)
        self._sqnorm = np.empty(len(self._z), np.float32)
        self._ids = np.empty(len(self._z), np.int64)

    @property
    def z(self) -> np.ndarray:
        """(N, D) view; do not write to it."""
        return self._z[: self.n]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.n]

    def reserve(self, capacity: int) -> None:
        if capacity <= len(self._z):
            return
        capacity = max(capacity, 2 * len(self._z))
        for name in ("_z", "_sqnorm", "_ids"):
            old = getattr(self, name)
            new = np.empty((capacity, *old.shape[1:]), old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(self, z: np.ndarray, ids: np.ndarray) -> None:
        """z (N, D) float32, ids (N,) increasing and above every id held."""
        end = self.n + len(z)
        self.reserve(end)
        self._z[self.n : end] = z
        self._sqnorm[self.n : end] = np.einsum("nd,nd->n", z, z)
        self._ids[self.n : end] = ids
        self.n = end

    def truncate(self, n: int) -> None:
        self.n = min(self.n, n)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where `mask` (N,) is False; the others keep their order and ids."""
        kept = int(mask.sum())
        for arr in (self._z, self._sqnorm, self._ids):
            arr[:kept] = arr[: self.n][mask]
        self.n = kept

    def search(self, q: np.ndarray, k: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest rows among rows[start:] of q (Q, D): (squared distances, rows), each (Q, k').

        k' = min(k, rows searched); distances are ascending.
        """
        import torch  # here, not at the top: opening a store to add or read need not pay torch's import

        end = self.n
        k = min(k, end - start)
        if k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        block = max(4096, _BLOCK_FLOATS // len(q))
        q2 = -2.0 * q  # scaling the query, not the (Q, rows) product, saves a pass over a million floats
        best_r = []
        for lo in range(start, end, block):
            hi = min(lo + block, end)
            dots = q2 @ self._z[lo:hi].T  # (Q, rows) = -2 q.x: a gemv for one query
            dots += self._sqnorm[lo:hi]
            _, r = torch.topk(torch.from_numpy(dots), min(k, hi - lo), dim=1, largest=False, sorted=False)
            best_r.append(r.numpy() + lo)
        # ||q||² is the same for every row, so it does not change the ranking; refine adds it back.
        return refine(self._z, q, np.concatenate(best_r, axis=1), k)


def refine(z: np.ndarray, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of candidate rows (Q, C), with squared distances recomputed as ||q - x||².

    The matrix-product formula loses precision for near-identical vectors (a stored entry
    queried with itself comes out at 1e-3, not 0); recomputing on the few candidates is exact.
    """
    diff = z[rows] - q[:, None, :]  # (Q, C, D)
    d2 = np.einsum("qcd,qcd->qc", diff, diff)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d2, order, 1).astype(np.float32), np.take_along_axis(rows, order, 1)
