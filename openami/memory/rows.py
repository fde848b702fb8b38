"""Entries as rows of the `entries` table and back: raw little-endian bytes per array."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openami.memory.schema import MemoryStoreError
from openami.memory.vectors import Vectors

COLUMNS = "id, episode, step, time, z, thumbnail, state"
_FETCH = 65536  # rows read per round trip when loading
_SQL_VARS = 500  # ids per `IN (...)` lookup, under every SQLite build's variable limit


@dataclass(frozen=True)
class Entries:
    """Entries of a store, aligned row by row."""

    ids: np.ndarray  # (N,) int64
    z: np.ndarray  # (N, D) float32
    episode: np.ndarray  # (N,) int64
    step: np.ndarray  # (N,) int64
    time: np.ndarray  # (N,) float64, unix seconds
    thumbnails: np.ndarray | None  # (N, h, w, 3) uint8, when the store keeps thumbnails
    state: np.ndarray | None  # (N, S) float32, when the store keeps true states (evaluation only)


def insert(conn: sqlite3.Connection, ids: np.ndarray, episode: np.ndarray, step: np.ndarray, time: np.ndarray,
           z: np.ndarray, thumbnails: np.ndarray | None, state: np.ndarray | None) -> None:
    n = len(ids)
    rows: Iterator[tuple] = zip(ids.tolist(), episode.tolist(), step.tolist(), time.tolist(),
                                (r.tobytes() for r in z),
                                (t.tobytes() for t in thumbnails) if thumbnails is not None else [None] * n,
                                (s.tobytes() for s in state) if state is not None else [None] * n, strict=True)
    conn.executemany(f"INSERT INTO entries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def read_vectors(conn: sqlite3.Connection, db: Path, dim: int) -> Vectors:
    """Every embedding in id order, streamed into one preallocated matrix."""
    vectors = Vectors(dim, conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    cursor = conn.execute("SELECT id, z FROM entries ORDER BY id")
    while rows := cursor.fetchmany(_FETCH):
        blob = b"".join(r[1] for r in rows)
        if len(blob) != 4 * dim * len(rows):
            raise MemoryStoreError(f"{db} holds embeddings of the wrong size; it is damaged")
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vectors.append(np.frombuffer(blob, np.float32).reshape(len(rows), dim), ids)
    return vectors


def select(conn: sqlite3.Connection, ids: np.ndarray) -> dict[int, tuple]:
    """The rows with these ids that exist, by id."""
    found: dict[int, tuple] = {}
    for lo in range(0, len(ids), _SQL_VARS):
        chunk = np.unique(ids[lo : lo + _SQL_VARS]).tolist()
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {COLUMNS} FROM entries WHERE id IN ({marks})", chunk):
            found[row[0]] = row
    return found


def decode(rows: list[tuple], dim: int, thumbnail_shape: tuple[int, ...] | None, state_dim: int | None) -> Entries:
    n = len(rows)

    def stack(col: int, dtype: type, tail: tuple[int, ...]) -> np.ndarray:
        return np.frombuffer(b"".join(r[col] for r in rows), dtype).reshape(n, *tail).copy()

    return Entries(ids=np.array([r[0] for r in rows], np.int64), z=stack(4, np.float32, (dim,)),
                   episode=np.array([r[1] for r in rows], np.int64), step=np.array([r[2] for r in rows], np.int64),
                   time=np.array([r[3] for r in rows], np.float64),
                   thumbnails=stack(5, np.uint8, thumbnail_shape) if thumbnail_shape else None,
                   state=stack(6, np.float32, (state_dim,)) if state_dim else None)
