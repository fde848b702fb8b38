"""Checks on what callers hand the memory store, with errors that say what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np

from openami.memory.schema import MemoryStoreError


def as_array(x: Any) -> np.ndarray:
    """A numpy view of an array, list or torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def check_embeddings(z: Any, dim: int, name: str) -> np.ndarray:
    """z (N, D) or (D,) of finite numbers -> float32 (N, D)."""
    arr = as_array(z)
    if arr.dtype.kind not in "fiu":
        raise MemoryStoreError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise MemoryStoreError(f"{name} must be (N, {dim}) or ({dim},) for this store of dimension {dim}, "
                               f"got shape {tuple(np.shape(z))}; were the embeddings made by another model?")
    arr = np.ascontiguousarray(arr, np.float32)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise MemoryStoreError(f"{name} has NaN or infinite values in rows {np.flatnonzero(bad)[:5].tolist()}; "
                               "an encoder that diverged? nothing was stored")
    return arr


def per_entry(value: Any, n: int, name: str, integer: bool) -> np.ndarray:
    """One value for all n entries, or n values -> (n,) int64 or float64."""
    arr = as_array(value)
    if arr.ndim == 0:
        arr = np.full(n, arr[()])
    if arr.shape != (n,):
        raise MemoryStoreError(f"{name} must be one value or {n} values (one per entry), got shape {arr.shape}")
    if integer:
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise MemoryStoreError(f"{name} must be integers, got {arr[:3].tolist()}")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "fiu" or not np.isfinite(arr).all():
        raise MemoryStoreError(f"{name} must be finite numbers, got {arr[:3].tolist()}")
    return arr.astype(np.float64)


def check_thumbnails(thumbnails: Any, n: int, shape: tuple[int, ...] | None) -> np.ndarray | None:
    """(n, h, w, c) uint8 as the store's thumbnail_shape demands, or None for a store without them."""
    if shape is None:
        if thumbnails is not None:
            raise MemoryStoreError("this store keeps no thumbnails; create it with thumbnail_shape=(h, w, 3)")
        return None
    if thumbnails is None:
        raise MemoryStoreError(f"this store keeps a thumbnail per entry: pass thumbnails "
                               f"({n}, {', '.join(map(str, shape))}) uint8")
    arr = as_array(thumbnails)
    if arr.shape == shape and n == 1:
        arr = arr[None]
    if arr.shape != (n, *shape) or arr.dtype != np.uint8:
        raise MemoryStoreError(f"thumbnails must be uint8 ({n}, {', '.join(map(str, shape))}), "
                               f"got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def check_rows(value: Any, n: int, width: int, name: str) -> np.ndarray:
    """(n, width) or, for one entry, (width,) -> float32 (n, width)."""
    arr = as_array(value)
    if arr.dtype.kind not in "fiu":
        raise MemoryStoreError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.shape == (width,) and n == 1:
        arr = arr[None]
    if arr.shape != (n, width):
        raise MemoryStoreError(f"{name} must be ({n}, {width}), got {arr.shape}")
    return np.ascontiguousarray(arr, np.float32)



def check_thumbnail_shape(shape: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    """(h, w) or (h, w, c) -> (h, w, c); (h, w) means RGB."""
    if shape is None:
        return None
    shape = tuple(int(v) for v in shape)
    if len(shape) == 2:
        shape = (*shape, 3)
    if len(shape) != 3 or min(shape) < 1:
        raise MemoryStoreError(f"thumbnail_shape must be (h, w) or (h, w, channels), got {shape}")
    return shape
