"""MemoryStore: the agent's persistent, crash-safe memory of the latent states it has seen.

    store = MemoryStore.create("mem", dim=64, thumbnail_shape=(32, 32, 3), info={"run": "runs/a"})
    ids = store.add(z, thumbnails, episode=0, step=np.arange(len(z)))   # z: (N, D)
    store.commit()                                   # durable from here on, even after kill -9
    distances, ids = store.query(z_now, k=10)        # (Q, k) each, L2, nearest first

Entries get ids 0, 1, 2, ... that never change and are never reused, so a pruned store keeps
the ids of what it kept. The embeddings live in memory as one matrix for exact search; an
optional HNSW index (faiss) answers approximately, faster, on large stores.
"""

from __future__ import annotations

import json
import sqlite3
import time as _time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from openami.memory import prune as pruning
from openami.memory import rows, schema
from openami.memory.hnsw import HnswConfig, HnswIndex, import_faiss
from openami.memory.rows import Entries
from openami.memory.schema import MemoryStoreError
from openami.memory.validate import (
    as_array,
    check_embeddings,
    check_rows,
    check_thumbnail_shape,
    check_thumbnails,
    per_entry,
)
from openami.memory.vectors import Vectors, refine


class MemoryStore:
    """A directory holding embeddings z (D,), thumbnails and metadata; see the module docstring.

    Make one with `create` or `open`; use it as a context manager or call `close()`.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: dict[str, Any], mode: str) -> None:
        self.path, self.mode = path, mode
        self._conn, self._meta = conn, meta
        self._hnsw = HnswConfig.from_dict(meta["hnsw"], "hnsw")
        self._vectors = Vectors(self.dim)
        self._in_txn = False
        self._index: HnswIndex | None = None
        self._index_saved = 0
        self._load()

    # -- opening and closing -------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, dim: int, *, thumbnail_shape: tuple[int, ...] | None = None,
               state_dim: int | None = None, index: str = "exact", hnsw: HnswConfig | None = None,
               info: dict[str, Any] | None = None, exist_ok: bool = False) -> MemoryStore:
        """A new, empty store in directory `path`, open for appending.

        `info` is free-form JSON kept with the store (e.g. which run and model made the
        embeddings). With `exist_ok`, an existing store of the same shapes is opened instead.
        """
        path = Path(path)
        if dim < 1 or (state_dim is not None and state_dim < 1):
            raise MemoryStoreError(f"dim and state_dim must be positive, got {dim} and {state_dim}")
        if index not in schema.INDEX_KINDS:
            raise MemoryStoreError(f"unknown index {index!r}: use one of {', '.join(schema.INDEX_KINDS)}")
        if index == "hnsw":
            import_faiss()
        shape = check_thumbnail_shape(thumbnail_shape)
        if schema.database_path(path).exists():
            if not exist_ok:
                raise FileExistsError(f"{path} already holds a memory store: open it with MemoryStore.open "
                                      f"or choose another folder")
            store = cls.open(path, "a")
            wanted = {"dim": dim, "thumbnail_shape": list(shape) if shape else None, "state_dim": state_dim}
            differs = {k: store._meta[k] for k, v in wanted.items() if store._meta[k] != v}
            if differs:
                store.close()
                raise MemoryStoreError(f"{path} already holds a memory store with {differs}, not {wanted}")
            return store
        try:
            info = json.loads(json.dumps(info or {}))
        except (TypeError, ValueError) as err:
            raise MemoryStoreError(f"info must be JSON-serializable: {err}") from None
        meta = schema.new_meta(dim, shape, state_dim, index, (hnsw or HnswConfig()).to_dict(), info)
        schema.create_database(path, meta)
        return cls.open(path, "a")

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> MemoryStore:
        """Open an existing store: mode "r" reads a snapshot, "a" also adds and prunes."""
        if mode not in ("r", "a"):
            raise MemoryStoreError(f"mode must be 'r' (read) or 'a' (append), got {mode!r}")
        path = Path(path)
        conn, meta = schema.open_database(path, readonly=mode == "r")
        try:
            return cls(path, conn, meta, mode)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Commit pending entries and save the index cache if one was used (mode "a"); release the file."""
        if self._conn is None:
            return
        if self.mode == "a":
            self.commit()
            if self._index is not None:  # in use: cache it up to date, so the next open need not build
                self.build_index()
        self._conn.close()
        self._conn = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and self._conn is not None and self.mode == "a":
            self.rollback()  # an exception mid-batch must not make half a batch durable
        self.close()

    # -- what the store is ---------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def info(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._meta["info"]))

    @property
    def index_kind(self) -> str:
        return str(self._meta["index"])

    @property
    def thumbnail_shape(self) -> tuple[int, ...] | None:
        shape = self._meta["thumbnail_shape"]
        return tuple(shape) if shape else None

    @property
    def state_dim(self) -> int | None:
        return self._meta["state_dim"]

    @property
    def ids(self) -> np.ndarray:
        """(N,) int64 ids of every entry, ascending (committed and pending)."""
        return self._vectors.ids.copy()

    @property
    def pending(self) -> int:
        """Entries added since the last commit."""
        return self._vectors.n - self._committed

    def __len__(self) -> int:
        return self._vectors.n

    def __repr__(self) -> str:
        return f"MemoryStore({str(self.path)!r}, entries={len(self)}, dim={self.dim}, index={self.index_kind!r})"

    # -- writing ---------------------------------------------------------------------------

    def add(self, z: Any, thumbnails: Any = None, *, episode: Any, step: Any, time: Any = None,
            state: Any = None, commit: bool = False) -> np.ndarray:
        """Add entries: z (N, D) or (D,); thumbnails (N, h, w, 3) uint8; state (N, S).

        episode, step and time (unix seconds, default now) are one value for all or (N,).
        Returns the new ids (N,) int64. They are durable once `commit()` returns.
        """
        self._writable("add to")
        z = check_embeddings(z, self.dim, "z")
        n = len(z)
        episode = per_entry(episode, n, "episode", integer=True)
        step = per_entry(step, n, "step", integer=True)
        time = per_entry(_time.time() if time is None else time, n, "time", integer=False)
        thumbs = check_thumbnails(thumbnails, n, self.thumbnail_shape)
        states = self._check_state(state, n)
        self._begin()
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        try:
            rows.insert(self._conn, ids, episode, step, time, z, thumbs, states)
        except sqlite3.Error as err:
            self.rollback()
            raise MemoryStoreError(f"cannot write to {self._db} ({err}); the uncommitted entries are "
                                   "discarded") from None
        self._vectors.append(z, ids)
        self._next_id += n
        if commit:
            self.commit()
        return ids

    def commit(self) -> None:
        """Make every added entry durable (atomic: all of them or, after a crash, none)."""
        if not self._in_txn:
            return
        try:
            schema.write_counters(self._conn, self._next_id, self._generation + 1)
            self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            self.rollback()
            raise MemoryStoreError(f"cannot commit to {self._db} ({err}); the uncommitted entries are "
                                   "discarded") from None
        self._in_txn = False
        self._generation += 1
        self._committed, self._committed_next_id = self._vectors.n, self._next_id

    save = commit

    def rollback(self) -> None:
        """Discard the entries added since the last commit."""
        if self._in_txn:
            self._conn.execute("ROLLBACK")
            self._in_txn = False
        self._vectors.truncate(self._committed)
        self._next_id = self._committed_next_id

    def prune(self, min_distance: float | None = None, keep_every: int | None = None,
              vacuum: bool = True) -> int:
        """Remove entries, keeping coverage; returns how many were removed (one transaction).

        keep_every keeps every n-th entry in id order; min_distance then removes each entry
        that lies within that L2 distance of an earlier kept one. Kept entries keep their ids.
        """
        self._writable("prune")
        if min_distance is None and keep_every is None:
            raise MemoryStoreError("prune needs min_distance and/or keep_every")
        if (min_distance is not None and not min_distance > 0) or (keep_every is not None and keep_every < 1):
            raise MemoryStoreError(f"prune needs min_distance > 0 and keep_every >= 1, got {min_distance} and "
                                   f"{keep_every}")
        self.commit()
        self._begin()  # before choosing: another process may have added entries since this one loaded
        mask = np.ones(len(self), bool) if keep_every is None else pruning.keep_every(len(self), keep_every)
        if min_distance is not None:
            mask = pruning.greedy_cover(self._vectors.z, min_distance, mask)
        removed = self._vectors.ids[~mask]
        if len(removed) == 0:
            self.rollback()
            return 0
        self._conn.executemany("DELETE FROM entries WHERE id = ?", ((i,) for i in removed.tolist()))
        self.commit()
        self._vectors.keep(mask)
        self._committed = self._vectors.n
        self._index = None  # its rows no longer line up with the store's
        (self.path / schema.INDEX_FILE).unlink(missing_ok=True)
        if vacuum:  # give the freed pages back to the file system
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(removed)

    # -- reading ---------------------------------------------------------------------------

    def query(self, z: Any, k: int = 10, ef_search: int | None = None,
              exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest entries of each query z (Q, D) or (D,): (L2 distances, ids), each (Q, k').

        k' = min(k, len(self)); rows are nearest first. Uncommitted entries are included.
        With index="hnsw" the answer is approximate (ef_search trades speed for recall)
        unless `exact`; the first such query loads the cached index or builds it (`build_index`).
        """
        self._check_open()
        q = np.ascontiguousarray(check_embeddings(z, self.dim, "query"))
        if not isinstance(k, int | np.integer) or k < 1:
            raise MemoryStoreError(f"k must be a positive integer, got {k!r}")
        if self.index_kind == "hnsw" and self._committed > 0 and not exact:
            d2, at = self._approximate(q, int(k), ef_search)
        else:
            d2, at = self._vectors.search(q, int(k))
        return np.sqrt(d2), self._vectors.ids[at]

    def get(self, ids: Any) -> Entries:
        """The entries with these ids (in the order given); an error names any that are absent."""
        self._check_open()
        wanted = np.asarray(as_array(ids), np.int64).reshape(-1)
        found = rows.select(self._conn, wanted)
        missing = [i for i in wanted.tolist() if i not in found]
        if missing:
            raise MemoryStoreError(f"{self.path} has no entries with ids {missing[:5]} (never added, pruned, "
                                   f"or rolled back); it holds {len(self)} entries")
        return rows.decode([found[i] for i in wanted.tolist()], self.dim, self.thumbnail_shape, self.state_dim)

    def embeddings(self) -> np.ndarray:
        """(N, D) float32, every entry in id order."""
        return self._vectors.z.copy()

    def states(self) -> np.ndarray:
        """(N, S) float32 true states in id order (for evaluation and plots, never for the agent)."""
        self._check_open()
        if self.state_dim is None:
            raise MemoryStoreError(f"{self.path} keeps no true states (it was created without state_dim)")
        blob = b"".join(r[0] for r in self._conn.execute("SELECT state FROM entries ORDER BY id"))
        return np.frombuffer(blob, np.float32).reshape(-1, self.state_dim).copy()

    def stats(self) -> dict[str, Any]:
        """Counts, shapes, size on disk, index kind and time span, as plain JSON values."""
        self._check_open()
        episodes, low, high, first, last = self._conn.execute(
            "SELECT COUNT(DISTINCT episode), MIN(episode), MAX(episode), MIN(time), MAX(time) FROM entries").fetchone()
        files = [*self.path.glob(f"{schema.DATABASE}*"), self.path / schema.INDEX_FILE]
        return {"path": str(self.path), "entries": len(self), "pending": self.pending, "episodes": episodes,
                "episode_range": [low, high],
                "dim": self.dim, "thumbnail_shape": self._meta["thumbnail_shape"], "state_dim": self.state_dim,
                "index": self.index_kind, "hnsw": self._hnsw.to_dict() if self.index_kind == "hnsw" else None,
                "bytes_on_disk": sum(f.stat().st_size for f in files if f.is_file()),
                "first_time": first, "last_time": last, "time_span_s": (last - first) if first is not None else 0.0,
                "created": self._meta["created"], "info": self.info}

    def build_index(self, progress: bool = False) -> None:
        """Bring the HNSW index up to date with every committed entry, and save it (mode "a")."""
        self._check_open()
        if self.index_kind != "hnsw":
            raise MemoryStoreError(f"{self.path} uses exact search; it has no approximate index to build")
        self._ensure_index(progress)
        if self.mode == "a" and self._index.rows != self._index_saved:
            self._index.save(self.path / schema.INDEX_FILE)
            self._index_saved = self._index.rows

    def refresh(self) -> bool:
        """Reload if another process committed since this store was read; True if it did."""
        self._check_open()
        if self._in_txn or schema.read_generation(self._conn) == self._generation:
            return False
        self._load()
        return True

    # -- internals ------------------------------------------------------------------------

    @property
    def _db(self) -> Path:
        return schema.database_path(self.path)

    def _check_open(self) -> None:
        if self._conn is None:
            raise MemoryStoreError(f"the memory store {self.path} is closed; open it again with MemoryStore.open")

    def _writable(self, what: str) -> None:
        self._check_open()
        if self.mode != "a":
            raise MemoryStoreError(f"cannot {what} {self.path}: it is open read-only; open it with mode='a'")

    def _begin(self) -> None:
        if self._in_txn:
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")  # takes the write lock now, not at the first insert
        except sqlite3.OperationalError as err:
            raise MemoryStoreError(f"cannot write to {self._db} ({err}): another process is writing to it; "
                                   "close that one first") from None
        self._in_txn = True
        if schema.read_generation(self._conn) != self._generation:  # another writer committed meanwhile
            self._read_all()

    def _load(self) -> None:
        self._conn.execute("BEGIN")  # one snapshot for the counters and the rows
        try:
            self._read_all()
        finally:
            self._conn.execute("COMMIT")

    def _read_all(self) -> None:
        meta = schema.read_meta(self._conn, self._db)
        self._next_id = self._committed_next_id = int(meta["next_id"])
        self._generation = int(meta["generation"])
        vectors = rows.read_vectors(self._conn, self._db, self.dim)
        self._vectors, self._committed = vectors, vectors.n
        self._index, self._index_saved = None, 0

    def _check_state(self, state: Any, n: int) -> np.ndarray | None:
        if self.state_dim is None:
            if state is not None:
                raise MemoryStoreError(f"{self.path} keeps no true states; create the store with state_dim")
            return None
        if state is None:
            raise MemoryStoreError(f"{self.path} keeps true states: pass state ({n}, {self.state_dim})")
        return check_rows(state, n, self.state_dim, "state")

    def _ensure_index(self, progress: bool = False) -> HnswIndex:
        committed = self._vectors.z[: self._committed]
        if self._index is None:
            self._index = HnswIndex.load(self.path / schema.INDEX_FILE, committed, self._hnsw)
            if self._index is None:
                self._index = HnswIndex(self.dim, self._hnsw)
            self._index_saved = self._index.rows
        self._index.extend(committed[self._index.rows :], progress)
        return self._index

    def _approximate(self, q: np.ndarray, k: int, ef_search: int | None) -> tuple[np.ndarray, np.ndarray]:
        """HNSW over committed rows, exact over the rows added since, merged."""
        index = self._ensure_index()
        cand = index.search(q, min(k, index.rows), ef_search)
        _, tail = self._vectors.search(q, k, start=index.rows)
        k = min(k, len(self))
        if (cand < 0).any():  # the graph came up short for some query: answer it exactly
            return self._vectors.search(q, k)
        return refine(self._vectors.z, q, np.concatenate([cand, tail], axis=1), k)


