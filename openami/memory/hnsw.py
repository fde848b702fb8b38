"""The approximate index: a faiss HNSW graph over the first rows of the store's embeddings.

The index is derived data. Its rows are the store's rows in id order, so it is valid while
its vectors equal the store's first rows; `load` checks exactly that (all of them, not a
sample) and otherwise the caller rebuilds. After a crash the cache is merely short and is
topped up; after a prune its rows no longer line up and it is rebuilt.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from openami.config import Config, check
from openami.memory.schema import MemoryStoreError

_ADD_CHUNK = 20000


@dataclass(frozen=True)
class HnswConfig(Config):
    """Settings of the HNSW graph (faiss IndexHNSWFlat)."""

    m: int = 32
    """Neighbours per node: more gives higher recall for more memory and a slower build."""
    ef_construction: int = 80
    """Candidate list length while building: higher builds a better graph, more slowly."""
    ef_search: int = 64
    """Candidate list length while searching (at least k): the recall/speed knob."""

    def __post_init__(self) -> None:
        for name in ("m", "ef_construction", "ef_search"):
            check(getattr(self, name) > 0, f"hnsw.{name} must be positive, got {getattr(self, name)}")


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MemoryStoreError("the approximate index (index='hnsw') needs faiss: `pip install faiss-cpu`, "
                               "or use exact search (index='exact')") from None
    return faiss


class HnswIndex:
    """An HNSW graph whose row r is the store's row r."""

    def __init__(self, dim: int, config: HnswConfig, index: Any = None) -> None:
        faiss = import_faiss()
        self.config = config
        if index is None:
            index = faiss.IndexHNSWFlat(dim, config.m)
            index.hnsw.efConstruction = config.ef_construction
        self.index = index

    @property
    def rows(self) -> int:
        return int(self.index.ntotal)

    def extend(self, z: np.ndarray, progress: bool = False) -> None:
        """Add rows z (N, D) after the ones held."""
        bar = tqdm(total=len(z), desc="hnsw index", unit="entry", disable=not progress or len(z) == 0)
        for lo in range(0, len(z), _ADD_CHUNK):
            chunk = np.ascontiguousarray(z[lo : lo + _ADD_CHUNK])
            self.index.add(chunk)
            bar.update(len(chunk))
        bar.close()

    def search(self, q: np.ndarray, k: int, ef_search: int | None = None) -> np.ndarray:
        """Candidate rows (Q, k) for queries q (Q, D); -1 where the graph found fewer than k."""
        faiss = import_faiss()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search or self.config.ef_search, k)
        _, rows = self.index.search(np.ascontiguousarray(q), k, params=params)
        return rows

    def save(self, path: Path) -> None:
        """Write the index atomically (temporary file, then rename)."""
        faiss = import_faiss()
        tmp = path.with_name(f".{path.name}.tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, z: np.ndarray, config: HnswConfig) -> HnswIndex | None:
        """The cached index at `path` if its rows equal the first rows of z (N, D), else None."""
        if not path.is_file():
            return None
        faiss = import_faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as err:
            warnings.warn(f"{path} is damaged ({str(err).splitlines()[0]}); rebuilding it", stacklevel=3)
            return None
        if not isinstance(index, faiss.IndexHNSWFlat) or index.d != z.shape[1] or index.ntotal > len(z):
            return None
        if index.hnsw.nb_neighbors(0) != 2 * config.m:  # the base layer holds 2*M neighbours
            return None
        storage = faiss.downcast_index(index.storage)
        held = faiss.vector_to_array(storage.codes).view(np.float32).reshape(-1, z.shape[1])
        if not np.array_equal(held, z[: len(held)]):
            return None
        return cls(z.shape[1], config, index)
