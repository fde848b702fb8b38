"""MemoryStore: round trip, incremental adds, exact and approximate search, prune, crashes, errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from openami.memory import HnswConfig, MemoryStore, MemoryStoreError, schema
from openami.memory.prune import greedy_cover

D, S = 8, 3


def rows(n: int, seed: int = 0, dim: int = D) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def make(path: Path, **kwargs) -> MemoryStore:
    return MemoryStore.create(path, D, thumbnail_shape=(4, 4), state_dim=S, info={"run": "r", "sha": "ab"},
                              **kwargs)


def add(store: MemoryStore, z: np.ndarray, episode: int = 0, **kwargs) -> np.ndarray:
    n = len(z)
    thumbs = np.arange(n * 48, dtype=np.int64).reshape(n, 4, 4, 3).astype(np.uint8)
    return store.add(z, thumbs, episode=episode, step=np.arange(n), state=z[:, :S] * 2, **kwargs)


def brute_force(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.linalg.norm(q[:, None] - x[None], axis=2)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


def test_round_trip(tmp_path: Path) -> None:
    z = rows(30)
    with make(tmp_path / "m") as store:
        ids = add(store, z[:20], episode=3, time=100.0)
        ids2 = store.add(torch.from_numpy(z[20:]), np.zeros((10, 4, 4, 3), np.uint8), episode=4, step=7,
                         state=np.ones((10, S)))
        assert store.pending == 30
        store.commit()
    assert ids.tolist() == list(range(20)) and ids2.tolist() == list(range(20, 30))
    with MemoryStore.open(tmp_path / "m") as store:
        assert len(store) == 30 and store.info == {"run": "r", "sha": "ab"} and store.thumbnail_shape == (4, 4, 3)
        np.testing.assert_array_equal(store.embeddings(), z)
        got = store.get([25, 3])
        np.testing.assert_array_equal(got.z, z[[25, 3]])
        assert got.episode.tolist() == [4, 3] and got.step.tolist() == [7, 3] and got.time[1] == 100.0
        np.testing.assert_array_equal(got.thumbnails[1], np.arange(48 * 3, 48 * 4).reshape(4, 4, 3).astype(np.uint8))
        np.testing.assert_array_equal(store.states()[:20], z[:20, :S] * 2)
        stats = store.stats()
        assert stats["entries"] == 30 and stats["episodes"] == 2 and stats["dim"] == D and stats["bytes_on_disk"] > 0
        assert json.loads(json.dumps(stats)) == stats


def test_incremental_add_after_reopen_never_reuses_ids(tmp_path: Path) -> None:
    z = rows(12)
    with make(tmp_path / "m") as store:
        add(store, z[:6])
    with MemoryStore.open(tmp_path / "m", "a") as store:
        assert add(store, z[6:]).tolist() == list(range(6, 12))
        assert store.prune(keep_every=5) == 9  # keeps ids 0, 5, 10
    with MemoryStore.open(tmp_path / "m", "a") as store:
        assert store.ids.tolist() == [0, 5, 10]
        assert add(store, z[:1]).tolist() == [12]
        np.testing.assert_array_equal(store.get([10, 12]).z, z[[10, 0]])


def test_query_equals_brute_force(tmp_path: Path) -> None:
    x, q = rows(500, 1), rows(7, 2)
    with make(tmp_path / "m") as store:
        assert store.query(q[0], 3)[1].shape == (1, 0)  # empty store
        add(store, x)
        for k in (1, 10, 499, 500, 800):
            dist, ids = store.query(q, k)
            want_d, want_i = brute_force(x, q, k)
            assert dist.shape == ids.shape == (7, min(k, 500)) and dist.dtype == np.float32
            np.testing.assert_array_equal(ids, want_i)
            np.testing.assert_allclose(dist, want_d, rtol=1e-5, atol=1e-5)
        dist, ids = store.query(torch.from_numpy(x[42]), 1)
        assert ids.tolist() == [[42]] and dist[0, 0] == 0.0  # exact distances, not 1e-3 from the matmul formula
        with pytest.raises(MemoryStoreError, match="k must be"):
            store.query(q, 0)


def test_pending_entries_are_searched_and_rollback_discards_them(tmp_path: Path) -> None:
    x = rows(10)
    with make(tmp_path / "m") as store:
        add(store, x[:5], commit=True)
        add(store, x[5:])
        assert store.query(x[7], 1)[1].tolist() == [[7]]
        store.rollback()
        assert len(store) == 5 and store.query(x[7], 1)[1][0, 0] < 5
        assert add(store, x[5:6]).tolist() == [5]  # the discarded ids are free again
        store.rollback()
    with pytest.raises(RuntimeError), MemoryStore.open(tmp_path / "m", "a") as store:
        add(store, x[5:])
        raise RuntimeError("mid-batch failure")  # the context manager rolls the batch back
    assert len(MemoryStore.open(tmp_path / "m")) == 5


CHILD = """
import sys, numpy as np
from openami.memory import MemoryStore
path, dim, batch, stop_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = MemoryStore.create(path, dim, thumbnail_shape=(16, 16), exist_ok=True)
commits = 0
while True:
    start = len(store)
    ids = np.arange(start, start + batch)
    z = (ids[:, None] + np.arange(dim) / dim).astype(np.float32)  # entry i is recognisable from its id
    store.add(z, np.zeros((batch, 16, 16, 3), np.uint8), episode=ids // 7, step=ids % 7)
    if commits == stop_after:
        print("uncommitted", flush=True)
        sys.stdin.read()  # wait to be killed
    store.commit()
    commits += 1
    print(len(store), flush=True)
"""


def child(path: Path, batch: int, stop_after: int = -1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), "32", str(batch), str(stop_after)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def expected(ids: np.ndarray, dim: int = 32) -> np.ndarray:
    return (ids[:, None] + np.arange(dim) / dim).astype(np.float32)


def test_uncommitted_entries_are_gone_after_a_crash(tmp_path: Path) -> None:
    proc = child(tmp_path / "m", batch=50, stop_after=2)
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    assert lines == ["50", "100", "uncommitted"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with MemoryStore.open(tmp_path / "m") as store:
        assert len(store) == 100 and store.ids.tolist() == list(range(100))


def test_sigkill_mid_write_keeps_every_committed_batch(tmp_path: Path) -> None:
    """A real child process adds and commits in a loop and is killed with SIGKILL at a random moment."""
    rng = np.random.default_rng(0)
    batch = 400
    for _ in range(3):  # each round reopens what the last one left, so recovery is incremental too
        proc = child(tmp_path / "m", batch)
        first = int(proc.stdout.readline())
        time.sleep(rng.uniform(0.05, 0.4))  # most of the child's time is spent inside add and commit
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reported = [first, *(int(line) for line in proc.stdout.read().split())]
        proc.stdout.close()
        proc.stdin.close()
        with MemoryStore.open(tmp_path / "m") as store:
            n = len(store)
            # Every reported commit is there; at most one more commit finished before its report.
            assert n in (reported[-1], reported[-1] + batch), (n, reported[-1])
            assert n % batch == 0  # whole batches only
            assert store.ids.tolist() == list(range(n))
            np.testing.assert_array_equal(store.embeddings(), expected(np.arange(n)))
            assert store.get([n - 1]).step.tolist() == [(n - 1) % 7]


def test_second_writer_gets_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(schema, "LOCK_TIMEOUT_S", 0.1)
    with make(tmp_path / "m") as first, MemoryStore.open(tmp_path / "m", "a") as second:
        add(first, rows(2))
        with pytest.raises(MemoryStoreError, match="another process is writing"):
            add(second, rows(2))
        first.commit()
        assert add(second, rows(2), commit=True).tolist() == [2, 3]  # it catches up with the first's commit
        assert len(second) == 4
    reader = MemoryStore.open(tmp_path / "m")
    with MemoryStore.open(tmp_path / "m", "a") as writer:
        add(writer, rows(1), commit=True)
    assert len(reader) == 4 and reader.refresh() and len(reader) == 5


def test_prune_removes_near_duplicates_and_keeps_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    centres = rows(20, 4) * 10
    z = np.repeat(centres, 3, axis=0) + rng.normal(0, 0.01, (60, D)).astype(np.float32)  # 3 near-copies each
    with make(tmp_path / "m") as store:
        add(store, z, commit=True)
        assert store.prune(min_distance=0.5) == 40
        assert store.ids.tolist() == list(range(0, 60, 3))
        assert store.query(z[31], 1)[1].tolist() == [[30]]
    with MemoryStore.open(tmp_path / "m") as store:
        assert store.ids.tolist() == list(range(0, 60, 3))
        np.testing.assert_array_equal(store.get([57]).z, z[[57]])


def test_greedy_cover_matches_the_obvious_loop() -> None:
    z = rows(2500, 5, dim=2)
    r = 0.3
    kept: list[int] = []
    for i in range(len(z)):
        if not kept or np.linalg.norm(z[kept] - z[i], axis=1).min() >= r:
            kept.append(i)
    mask = greedy_cover(z, r)
    assert np.flatnonzero(mask).tolist() == kept  # blocks of 1024 must not change the greedy order
    with pytest.raises(ValueError, match="positive"):
        greedy_cover(z, 0.0)


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="no memory store at"):
        MemoryStore.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MemoryStoreError, match="no memory.sqlite"):
        MemoryStore.open(tmp_path / "empty")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "memory.sqlite").write_bytes(os.urandom(4096))
    with pytest.raises(MemoryStoreError, match="damaged or not a memory store"):
        MemoryStore.open(tmp_path / "garbage")
    (tmp_path / "other").mkdir()
    sqlite3.connect(tmp_path / "other" / "memory.sqlite").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(MemoryStoreError, match="not an openami memory store"):
        MemoryStore.open(tmp_path / "other")

    make(tmp_path / "m").close()
    with pytest.raises(FileExistsError, match="already holds a memory store"):
        make(tmp_path / "m")
    with pytest.raises(MemoryStoreError, match=r"with \{'dim': 8, 'thumbnail_shape'"):
        MemoryStore.create(tmp_path / "m", 4, exist_ok=True)
    conn = sqlite3.connect(tmp_path / "m" / "memory.sqlite")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(MemoryStoreError, match="newer than the 1 this openami reads; upgrade openami"):
        MemoryStore.open(tmp_path / "m")

    with make(tmp_path / "m2") as store:
        with pytest.raises(MemoryStoreError, match=r"must be \(N, 8\) or \(8,\).*another model"):
            add(store, rows(3, dim=5))
        with pytest.raises(MemoryStoreError, match="NaN or infinite values in rows \\[1\\]"):
            add(store, np.where(np.arange(3)[:, None] == 1, np.nan, rows(3)))
        with pytest.raises(MemoryStoreError, match=r"thumbnails must be uint8 \(3, 4, 4, 3\)"):
            store.add(rows(3), np.zeros((3, 4, 4, 3), np.float32), episode=0, step=0, state=np.zeros((3, S)))
        with pytest.raises(MemoryStoreError, match="episode must be one value or 3 values"):
            add(store, rows(3), episode=[1, 2])
        with pytest.raises(MemoryStoreError, match="no entries with ids \\[7\\]"):
            store.get([7])
        assert len(store) == 0
    with MemoryStore.open(tmp_path / "m2") as store, pytest.raises(MemoryStoreError, match="read-only"):
        add(store, rows(1))


@pytest.fixture
def faiss():
    return pytest.importorskip("faiss", reason="the hnsw index needs faiss-cpu")


def test_hnsw_recall_cache_and_pending_tail(tmp_path: Path, faiss) -> None:
    rng = np.random.default_rng(6)
    basis = rng.standard_normal((4, 16)).astype(np.float32)  # low intrinsic dimension, as real embeddings
    x = np.tanh(rng.standard_normal((4000, 4)).astype(np.float32) @ basis)
    q = np.tanh(rng.standard_normal((50, 4)).astype(np.float32) @ basis)
    store = MemoryStore.create(tmp_path / "m", 16, index="hnsw", hnsw=HnswConfig(m=16, ef_search=64))
    store.add(x[:3900], episode=0, step=0, commit=True)
    store.add(x[3900:], episode=1, step=0)  # pending: searched exactly, merged with the graph's answer
    _, ids = store.query(q, 10)
    _, want = brute_force(x, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, want, strict=True)])
    assert recall >= 0.95
    assert store.query(x[3950], 1)[1].tolist() == [[3950]]
    np.testing.assert_array_equal(store.query(q, 10, exact=True)[1], want)
    store.close()  # commits, then saves the index topped up to every committed entry
    cache = tmp_path / "m" / "index.faiss"
    assert faiss.read_index(str(cache)).ntotal == 4000

    with MemoryStore.open(tmp_path / "m") as reopened:  # the cache is checked against the store and used
        np.testing.assert_array_equal(reopened.query(q, 10)[1], ids)
    cache.write_bytes(b"not an index")
    with pytest.warns(UserWarning, match="damaged"), MemoryStore.open(tmp_path / "m", "a") as damaged:
        assert damaged.query(x[10], 1)[1].tolist() == [[10]]
    assert faiss.read_index(str(cache)).ntotal == 4000  # rebuilt and saved again on close
    with MemoryStore.open(tmp_path / "m", "a") as store:
        store.prune(keep_every=2)
        assert not cache.exists()  # its rows no longer line up with the store's
        assert store.query(x[11], 1)[1][0, 0] % 2 == 0  # a kept entry, from a rebuilt graph
