"""The memory store on disk: one SQLite database whose transactions make it crash-safe.

PATH/
  memory.sqlite    tables `meta` (JSON values by key) and `entries` (one row per remembered state)
  index.faiss      optional approximate-search cache, derived from `entries` and checked before use

SQLite in WAL mode makes a COMMIT atomic and durable: a process killed mid-write leaves a
database that opens with every committed transaction and none of the half-written one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT = "openami-memory"
SCHEMA_VERSION = 1
DATABASE = "memory.sqlite"
INDEX_FILE = "index.faiss"
INDEX_KINDS = ("exact", "hnsw")
LOCK_TIMEOUT_S = 10.0  # how long a writer waits for another process's transaction to finish

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    episode INTEGER NOT NULL,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    z BLOB NOT NULL,
    thumbnail BLOB,
    state BLOB
);
"""
# Keys every store's meta table holds; `next_id` and `generation` change with each commit.
_REQUIRED = ("format", "schema_version", "dim", "thumbnail_shape", "state_dim", "index", "hnsw", "info",
             "created", "next_id", "generation")
_DAMAGED = ("damaged or not a memory store ({err}); restore it from a backup or rebuild the memory with "
            "`ami memory add`")


class MemoryStoreError(ValueError):
    """A memory store that is missing, damaged or used in a way its contents do not allow."""


def database_path(path: str | os.PathLike[str]) -> Path:
    return Path(path) / DATABASE


def _connect(db: Path, readonly: bool) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and committed explicitly by the store.
    uri = f"{db.resolve().as_uri()}?mode={'ro' if readonly else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=LOCK_TIMEOUT_S)
    conn.execute("PRAGMA synchronous=FULL")  # a returned commit() survives power loss, not only kill -9
    return conn


def create_database(path: Path, meta: dict[str, Any]) -> None:
    """Write a new store's database under a temporary name and rename it into place.

    The rename makes creation atomic: an interrupted create leaves no half-made store.
    """
    path.mkdir(parents=True, exist_ok=True)
    final = database_path(path)
    tmp = path / f".{DATABASE}.tmp"
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # stored in the file header, so every later open uses WAL
        conn.execute("BEGIN")
        for statement in _TABLES.strip().split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        conn.execute("COMMIT")
    finally:
        conn.close()
    os.replace(tmp, final)


def new_meta(dim: int, thumbnail_shape: tuple[int, int, int] | None, state_dim: int | None, index: str,
             hnsw: dict[str, int], info: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "dim": dim,
            "thumbnail_shape": list(thumbnail_shape) if thumbnail_shape else None, "state_dim": state_dim,
            "index": index, "hnsw": hnsw, "info": info,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "next_id": 0, "generation": 0}


def open_database(path: Path, readonly: bool) -> tuple[sqlite3.Connection, dict[str, Any]]:
    """Connect to the store in `path` and read its meta, with an error that says what is wrong."""
    if not path.exists():
        raise MemoryStoreError(f"no memory store at {path}: create one with `ami memory add --memory {path} "
                               "--run RUN --data DATA` or MemoryStore.create")
    db = database_path(path)
    if not path.is_dir() or not db.is_file():
        raise MemoryStoreError(f"{path} is not a memory store (no {DATABASE} in it); give the folder that "
                               "`ami memory add` or MemoryStore.create made")
    try:
        conn = _connect(db, readonly)
    except sqlite3.OperationalError as err:
        raise MemoryStoreError(f"cannot open {db} ({err}); check its permissions") from None
    except sqlite3.DatabaseError as err:
        raise MemoryStoreError(f"{db} is {_DAMAGED.format(err=err)}") from None
    try:
        meta = read_meta(conn, db)
    except BaseException:
        conn.close()
        raise
    return conn, meta


def read_meta(conn: sqlite3.Connection, db: Path) -> dict[str, Any]:
    try:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
        meta = {k: json.loads(v) for k, v in rows}
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            raise MemoryStoreError(f"{db} is an SQLite database but not an openami memory store "
                                   "(no meta table)") from None
        raise MemoryStoreError(f"cannot read {db} ({err})") from None
    except (sqlite3.DatabaseError, json.JSONDecodeError) as err:
        raise MemoryStoreError(f"{db} is {_DAMAGED.format(err=err)}") from None
    if meta.get("format") != FORMAT:
        raise MemoryStoreError(f"{db} is an SQLite database but not an openami memory store")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise MemoryStoreError(f"{db} has schema version {version!r}, newer than the {SCHEMA_VERSION} this "
                               "openami reads; upgrade openami")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise MemoryStoreError(f"{db} lacks the meta fields {', '.join(missing)}; it is damaged")
    return meta


def write_counters(conn: sqlite3.Connection, next_id: int, generation: int) -> None:
    """Record the id counter and commit generation inside the caller's open transaction."""
    conn.executemany("UPDATE meta SET value = ? WHERE key = ?",
                     [(json.dumps(next_id), "next_id"), (json.dumps(generation), "generation")])


def read_generation(conn: sqlite3.Connection) -> int:
    return int(json.loads(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]))
