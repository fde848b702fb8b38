"""Far goals in the maze with persistent memory, measured on this machine through the `ami` command.

python benchmarks/maze.py --work /tmp/maze-bench              # every section (about 30 min on 2 cores)
python benchmarks/maze.py --work W --sections far restart     # reuse W's model and memory

Sections (each run as a user would, `ami ...` in a fresh process, timed):
  build    ami collect + ami train (maze preset), ami memory add (every 5th frame), ami memory graph
  far      ami eval plan --protocol maze-far --memory: memory + graph + MPC, beside the same MPC agent
           without memory ("flat": same model, planner, step budget) and random actions, 100 episodes
  restart  a new process opens the same memory and graph from disk and runs the same episodes:
           no exploration (no collection, the memory is unchanged), success compared with `far`
  grow     ami memory add of 100 new exploration episodes into the same memory, the graph rebuilt,
           the same episodes again
Writes benchmarks/results/maze.json (each section with git commit, date, CPUs, torch, settings).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import print_table, run_sections

ROOT = Path(__file__).resolve().parent.parent
EVERY = 5  # remember every 5th frame of each exploration episode


def ami(*args: str) -> float:
    """Run `ami ARGS` in a fresh process; its wall time in seconds."""
    began = time.time()
    subprocess.run([sys.executable, "-m", "openami", *args], check=True)
    return time.time() - began


def stats(memory: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "openami", "memory", "stats", "--memory", str(memory), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def far(work: Path, name: str, episodes: int | None, baselines: bool) -> dict[str, Any]:
    """ami eval plan on maze-far with the memory; the summary it writes."""
    out = work / name
    args = ["eval", "plan", "--run", str(work / "run"), "--preset", "maze", "--protocol", "maze-far",
            "--memory", str(work / "memory"), "--out", str(out), "--quiet"]
    args += [] if baselines else ["--no-baseline"]
    args += ["--episodes", str(episodes)] if episodes else []
    wall = ami(*args)
    summary = json.loads((out / "maze-far.summary.json").read_text())
    return {"wall_s": wall, "summary": summary, "graph": graph_info(work / "memory")}


def graph_info(memory: Path) -> dict[str, Any]:
    from openami.memory.graph import MemoryGraph

    graph = MemoryGraph.load(memory)
    return {"nodes": graph.num_nodes, "edges": len(graph.src), "experienced_edges": int((graph.kind == 0).sum()),
            "judged_edges": int((graph.kind == 1).sum()), "node_radius": graph.node_radius, **graph.info}


def section_build(work: Path) -> dict[str, Any]:
    memory = work / "memory"
    times = {"collect_s": ami("collect", "--preset", "maze", "--out", str(work / "data"), "--quiet"),
             "train_s": ami("train", "--preset", "maze", "--data", str(work / "data"), "--out", str(work / "run"),
                            "--quiet"),
             "memory_add_s": ami("memory", "add", "--run", str(work / "run"), "--data", str(work / "data"),
                                 "--memory", str(memory), "--every", str(EVERY), "--quiet"),
             "memory_graph_s": ami("memory", "graph", "--run", str(work / "run"), "--memory", str(memory),
                                   "--preset", "maze", "--quiet")}
    return {**times, "memory": stats(memory), "graph": graph_info(memory)}


def section_restart(work: Path, episodes: int | None) -> dict[str, Any]:
    before = stats(work / "memory")
    result = far(work, "eval-restart", episodes, baselines=False)
    after = stats(work / "memory")
    return {**result, "entries_before": before["entries"], "entries_after": after["entries"],
            "exploration_steps": 0, "collected": False}


def section_grow(work: Path, episodes: int | None) -> dict[str, Any]:
    memory = work / "memory"
    before = stats(memory)["entries"]
    times = {"collect_s": ami("collect", "--preset", "maze", "--episodes", "100", "--seed", "600",
                              "--out", str(work / "data-more"), "--quiet"),
             "memory_add_s": ami("memory", "add", "--run", str(work / "run"), "--data", str(work / "data-more"),
                                 "--memory", str(memory), "--every", str(EVERY), "--quiet"),
             "memory_graph_s": ami("memory", "graph", "--run", str(work / "run"), "--memory", str(memory),
                                   "--preset", "maze", "--quiet")}
    return {**times, "entries_before": before, "entries_after": stats(memory)["entries"],
            **far(work, "eval-grown", episodes, baselines=False)}


def table(results: dict[str, Any]) -> None:
    def pct(s: dict[str, Any]) -> str:
        lo, hi = s["wilson95"]
        return f"{100 * s['success_rate']:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}] of {s['episodes']}"

    rows = []
    if "build" in results:
        b = results["build"]
        rows.append(("maze model training (ami train --preset maze)", "-", f"{b['train_s']:.0f} s"))
        rows.append(("memory: entries / graph nodes / edges", "-",
                     f"{b['memory']['entries']:,} / {b['graph']['nodes']} / {b['graph']['edges']}"))
        rows.append(("ami memory add / ami memory graph", "-",
                     f"{b['memory_add_s']:.0f} s / {b['memory_graph_s']:.0f} s"))
    if "far" in results:
        s = results["far"]["summary"]
        rows.append(("maze-far success, memory + graph + MPC", ">= 90 %", pct(s)))
        rows.append(("maze-far success, flat MPC (same model, budget)", "reported (<= 30 %)", pct(s["flat"])))
        rows.append(("maze-far success, random actions", "-", pct(s["random"])))
        rows.append(("median s per plan call (memory agent)", "-", f"{s['median_plan_s']:.4f} s"))
    if "restart" in results:
        r = results["restart"]
        if "far" in results:
            same = r["summary"]["successes"] == results["far"]["summary"]["successes"]
            verdict = "unchanged" if same else "CHANGED"
        else:
            verdict = "no far section to compare with"
        rows.append(("restart: memory reopened, no exploration", "success unchanged",
                     f"{pct(r['summary'])}; entries {r['entries_before']:,} -> {r['entries_after']:,}; {verdict}"))
    if "grow" in results:
        g = results["grow"]
        rows.append(("grown memory (+100 episodes), graph rebuilt", "-",
                     f"{pct(g['summary'])}; entries {g['entries_before']:,} -> {g['entries_after']:,}"))
    print_table(rows, ("figure", "target", "measured"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sections = ["build", "far", "restart", "grow"]
    parser.add_argument("--sections", nargs="+", default=sections, choices=sections)
    parser.add_argument("--episodes", type=int, help="fewer protocol episodes (for a quick look; not the figure)")
    parser.add_argument("--work", type=Path, help="folder for data, run and memory (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "maze.json")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="openami-maze-"))
    settings = {"episodes": args.episodes or "protocol", "work": str(work), "memory_every": EVERY}
    run = {"build": lambda: section_build(work),
           "far": lambda: far(work, "eval-far", args.episodes, baselines=True),
           "restart": lambda: section_restart(work, args.episodes),
           "grow": lambda: section_grow(work, args.episodes)}
    results = run_sections(args.sections, run, lambda _: settings, args.out)
    table(results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
