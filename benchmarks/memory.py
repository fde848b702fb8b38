"""The memory store's figures: query speed at a million entries, add and open times, kill -9 recovery.

python benchmarks/memory.py                                   # 1,000,000 entries, D = 64 and 256
python benchmarks/memory.py --entries 100000 --dims 64        # a quick look (not the figure)

For each D and data kind, a store is filled through MemoryStore.add (committing every
10,000 entries), closed and reopened, then queried one query at a time, as an agent does:
exactly, and through the HNSW index at several efSearch values, with recall@10 against
the exact answer. Data kinds:
  gaussian  i.i.d. N(0, 1) vectors: the worst case for any approximate index (all distances
            concentrate around the mean, so a neighbour is barely nearer than a random point)
  manifold  tanh of an 8-dimensional Gaussian mapped into D, plus noise 0.01: low intrinsic
            dimension, like the embeddings of a world whose state has a few degrees of freedom
The kill -9 section runs a child process that adds and commits batches in a loop, kills it
with SIGKILL at a random moment, reopens the store and checks every committed entry.
Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from provenance import print_table, provenance, write_json

from openami.memory import HnswConfig, MemoryStore

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000
EXACT_TARGET_MS, APPROX_TARGET_MS, RECALL_TARGET = 20.0, 2.0, 0.95


def make_data(kind: str, n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.standard_normal((n, dim), dtype=np.float32)
    basis = np.random.default_rng(12345).standard_normal((8, dim)).astype(np.float32) / np.sqrt(8)
    out = np.empty((n, dim), np.float32)
    for lo in range(0, n, 100_000):  # bounded temporaries
        m = min(100_000, n - lo)
        out[lo : lo + m] = np.tanh(rng.standard_normal((m, 8), dtype=np.float32) @ basis)
        out[lo : lo + m] += rng.normal(0, 0.01, (m, dim)).astype(np.float32)
    return out


def per_query_ms(store: MemoryStore, queries: np.ndarray, k: int, **kwargs: Any) -> tuple[dict[str, float], np.ndarray]:
    store.query(queries[0], k, **kwargs)  # warm-up
    times, ids = [], []
    for q in queries:
        began = time.perf_counter()
        ids.append(store.query(q, k, **kwargs)[1][0])
        times.append(1000 * (time.perf_counter() - began))
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}, np.stack(ids)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]))


def section_store(work: Path, kind: str, n: int, dim: int, args: argparse.Namespace) -> dict[str, Any]:
    path = work / f"{kind}-{dim}"
    shutil.rmtree(path, ignore_errors=True)
    x = make_data(kind, n, dim, seed=dim)
    queries = make_data(kind, args.queries, dim, seed=10_000 + dim)
    hnsw = HnswConfig(m=args.m, ef_construction=args.ef_construction)
    began = time.perf_counter()
    with MemoryStore.create(path, dim, index="hnsw" if args.hnsw else "exact", hnsw=hnsw) as store:
        for lo in range(0, n, BATCH):
            ids = np.arange(lo, min(lo + BATCH, n))
            store.add(x[lo : lo + BATCH], episode=ids // 1000, step=ids % 1000, commit=True)
    out: dict[str, Any] = {"data": kind, "entries": n, "dim": dim, "add_s": time.perf_counter() - began}
    began = time.perf_counter()
    store = MemoryStore.open(path, "a")
    out["open_s"] = time.perf_counter() - began
    out["bytes_on_disk"] = store.stats()["bytes_on_disk"]
    out["exact"], truth = per_query_ms(store, queries, args.k, exact=True)
    began = time.perf_counter()
    store.query(queries, args.k, exact=True)
    out["exact"]["batched_ms_per_query"] = 1000 * (time.perf_counter() - began) / len(queries)
    print(f"  {kind} D={dim}: add {out['add_s']:.1f} s, open {out['open_s']:.2f} s, exact "
          f"{out['exact']['median_ms']:.1f} ms", flush=True)
    if args.hnsw:
        began = time.perf_counter()
        store.build_index(progress=False)
        out["hnsw"] = {"settings": hnsw.to_dict(), "build_s": time.perf_counter() - began}
        store.close()
        began = time.perf_counter()
        store = MemoryStore.open(path)
        store.query(queries[0], args.k)  # loads the cached index and checks it against the store
        out["hnsw"]["open_and_load_cache_s"] = time.perf_counter() - began
        sweep = []
        for ef in args.ef_search:
            timing, found = per_query_ms(store, queries, args.k, ef_search=ef)
            sweep.append({"ef_search": ef, **timing, "recall_at_k": recall(found, truth)})
            print(f"    ef_search {ef}: {timing['median_ms']:.2f} ms, recall {sweep[-1]['recall_at_k']:.3f}",
                  flush=True)
        out["hnsw"]["sweep"] = sweep
        good = [s for s in sweep if s["recall_at_k"] >= RECALL_TARGET]
        out["hnsw"]["best"] = min(good, key=lambda s: s["median_ms"]) if good else max(
            sweep, key=lambda s: s["recall_at_k"])
    store.close()
    shutil.rmtree(path, ignore_errors=True)
    return out


CHILD = """
import sys, numpy as np
from openami.memory import MemoryStore
path, batch = sys.argv[1], int(sys.argv[2])
store = MemoryStore.create(path, 64, thumbnail_shape=(32, 32), exist_ok=True)
while True:
    ids = np.arange(len(store), len(store) + batch)
    z = (ids[:, None] + np.arange(64) / 64).astype(np.float32)  # entry i is recognisable from its id
    sys.stderr.write("A"); sys.stderr.flush()
    store.add(z, np.full((batch, 32, 32, 3), ids[0] % 256, np.uint8), episode=ids // 100, step=ids % 100)
    sys.stderr.write("C"); sys.stderr.flush()
    store.commit()
    sys.stderr.write("D"); sys.stderr.flush()
    print(len(store), flush=True)
"""
DATA_KINDS = {"gaussian": "i.i.d. N(0, 1) entries and queries (worst case for approximate search)",
              "manifold": "tanh(u @ W) + N(0, 0.01), u ~ N(0, I_8), W ~ N(0, 1/8) of shape (8, D): intrinsic "
                          "dimension 8"}
_WHERE = {"A": "in add", "C": "in commit", "D": "between commits"}


def section_kill(work: Path, rounds: int, batch: int, seed: int) -> dict[str, Any]:
    path = work / "killed"
    shutil.rmtree(path, ignore_errors=True)
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(batch)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        reported = [int(proc.stdout.readline())]
        time.sleep(rng.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reported += [int(v) for v in proc.stdout.read().split()]
        where = _WHERE.get(proc.stderr.read()[-1:], "?")
        began = time.perf_counter()
        with MemoryStore.open(path) as store:
            opened_s = time.perf_counter() - began
            n = len(store)
            z = store.embeddings()
            ids = store.ids
        intact = bool(np.array_equal(ids, np.arange(n))
                      and np.array_equal(z, (ids[:, None] + np.arange(64) / 64).astype(np.float32)))
        results.append({"killed": where, "committed_reported": reported[-1], "found": n, "open_s": opened_s,
                        "all_committed_present": n >= reported[-1], "whole_batches": n % batch == 0,
                        "contents_intact": intact})
    shutil.rmtree(path, ignore_errors=True)
    ok = all(r["all_committed_present"] and r["whole_batches"] and r["contents_intact"] for r in results)
    return {"rounds": results, "batch": batch, "passed": ok}


def table(results: dict[str, Any]) -> None:
    rows = []
    for s in results.get("stores", []):
        tag = f"N={s['entries']:,} D={s['dim']} {s['data']}"
        e = s["exact"]
        rows.append((f"exact query, 1 at a time, {tag}", f"<= {EXACT_TARGET_MS:g} ms",
                     f"{e['median_ms']:.1f} ms (p90 {e['p90_ms']:.1f}; batched {e['batched_ms_per_query']:.1f} ms/q)"))
        if "hnsw" in s:
            b, h = s["hnsw"]["best"], s["hnsw"]
            rows.append((f"hnsw query, {tag}", f"<= {APPROX_TARGET_MS:g} ms, recall >= {RECALL_TARGET}",
                         f"{b['median_ms']:.2f} ms (p90 {b['p90_ms']:.2f}), recall {b['recall_at_k']:.3f} at "
                         f"efSearch {b['ef_search']}; M {h['settings']['m']}, build {h['build_s']:.0f} s"))
        rows.append((f"add (commit per {BATCH:,}) / open, {tag}", "-",
                     f"{s['add_s']:.1f} s / {s['open_s']:.2f} s, {s['bytes_on_disk'] / 2**20:,.0f} MiB"))
    if "kill" in results:
        k = results["kill"]
        found = ", ".join(f"{r['found']}>={r['committed_reported']} ({r['killed']})" for r in k["rounds"])
        rows.append(("kill -9 mid-write, reopen: committed all there", "yes", f"{'yes' if k['passed'] else 'NO'}: "
                     f"{found}"))
    print_table(rows, ("figure", "target", "measured"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--data", nargs="+", default=["gaussian", "manifold"], choices=["gaussian", "manifold"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--no-hnsw", dest="hnsw", action="store_false", help="exact search only")
    parser.add_argument("--m", type=int, default=HnswConfig().m, help="HNSW neighbours per node")
    parser.add_argument("--ef-construction", type=int, default=HnswConfig().ef_construction)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--kill-rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, help="folder for the stores (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="openami-memory-"))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results: dict[str, Any] = {**provenance({**settings, "commit_every": BATCH}), "data_kinds": DATA_KINDS,
                               "targets": {"exact_ms": EXACT_TARGET_MS, "approximate_ms": APPROX_TARGET_MS,
                                           "recall_at_k": RECALL_TARGET}, "stores": []}
    for dim in args.dims:
        for kind in args.data:
            print(f"== {kind} D={dim}", flush=True)
            results["stores"].append(section_store(work, kind, args.entries, dim, args))
            write_json(args.out, results)
    print("== kill -9", flush=True)
    results["kill"] = section_kill(work, args.kill_rounds, batch=1000, seed=0)
    write_json(args.out, results)
    table(results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
