"""The figures of openami's first milestone, measured on this machine.

python benchmarks/tworoom.py                       # every section (about an hour on 2 cores)
python benchmarks/tworoom.py --sections demo world # a subset; other sections' figures are kept

Sections:
  demo   `ami demo` wall time, then the demo's model on the full protocols (100 episodes each)
  long   the `tworoom-long` preset (<= 30 min training), on the full protocols
  world  TwoRoom step + render speed at 64x64
  tests  wall time of the default test suite
Writes benchmarks/results/tworoom.json (each section with git commit, date, CPUs, torch, settings).
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

import numpy as np
from provenance import print_table, run_sections
from world_speed import steps_per_second

from openami.data.collect import collect
from openami.evaluation.planning import evaluate
from openami.presets import load_preset
from openami.training import fit, load_model
from openami.worlds import make_world

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ("tworoom-offset25", "tworoom-cross")
# The planner the presets used before the planning-speed work: 3 CEM rounds of 200 samples.
SLOW_SEARCH = {"horizon": 10, "num_samples": 200, "iterations": 3}


def full_protocols(run_dir: Path, preset: str, episodes: int | None, search: dict | None = None,
                   baseline: bool = True) -> dict[str, Any]:
    model, run = load_model(run_dir)
    eval_cfg = load_preset(preset).eval
    if search:
        eval_cfg = eval_cfg.replace(search=eval_cfg.search.replace(**search))
    out = run_dir.parent / ("eval-full-slow" if search else "eval-full")
    return {p: evaluate(model, run, p, eval_cfg, episodes=episodes, out_dir=out, baseline=baseline)
            for p in PROTOCOLS}


def section_demo(work: Path, episodes: int | None) -> dict[str, Any]:
    began = time.time()
    subprocess.run([sys.executable, "-m", "openami", "demo", "--out", str(work / "demo"), "--quiet"], check=True)
    wall = time.time() - began
    demo_results = json.loads((work / "demo" / "results.json").read_text())
    return {"preset": load_preset("tworoom").to_dict(), "demo_wall_s": wall,
            "demo_timings": demo_results["timings"],
            "demo_own_evaluations": demo_results["evaluations"],
            "protocols": full_protocols(work / "demo" / "run", "tworoom", episodes),
            "slow_planner": {"search": SLOW_SEARCH, "protocols": full_protocols(
                work / "demo" / "run", "tworoom", episodes, SLOW_SEARCH, baseline=False)}}


def section_long(work: Path, episodes: int | None) -> dict[str, Any]:
    recipe = load_preset("tworoom-long")
    c = recipe.collect
    t = time.time()
    collect(c.world, c.episodes, work / "long" / "data", episode_length=c.episode_length, size=c.size,
            seed=c.seed, policy=c.policy, episodes_per_shard=c.episodes_per_shard)
    collect_s = time.time() - t
    t = time.time()
    fit(work / "long" / "data", work / "long" / "run", recipe.model, recipe.train)
    train_s = time.time() - t
    return {"preset": recipe.to_dict(), "collect_s": collect_s, "train_s": train_s,
            "protocols": full_protocols(work / "long" / "run", "tworoom-long", episodes)}


def section_world(steps: int = 20000) -> dict[str, Any]:
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 2)).astype(np.float32)
    rates = [steps_per_second(make_world("tworoom", size=64), actions) for _ in range(3)]
    return {"steps_per_second": float(np.median(rates)), "runs": rates, "steps": steps}


def section_tests() -> dict[str, Any]:
    began = time.time()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                            capture_output=True, text=True)
    return {"wall_s": time.time() - began, "exit_code": result.returncode,
            "summary": result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""}


def table(results: dict[str, Any]) -> None:
    rows = []

    def pct(s: dict[str, Any]) -> str:
        lo, hi = s["wilson95"]
        return f"{100 * s['success_rate']:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}] of {s['episodes']}"

    if "demo" in results:
        d = results["demo"]
        rows.append(("ami demo wall time", "<= 300 s", f"{d['demo_wall_s']:.0f} s"))
        for p, s in d["protocols"].items():
            rows.append((f"{p}, demo model", ">= 98 %" if p.endswith("25") else "-", pct(s)))
            rows.append((f"{p}, random actions", "-", pct(s["random"])))
        rows.append(("median s per plan (default planner)", "<= 0.01 s",
                     f"{d['protocols']['tworoom-offset25']['median_plan_s']:.4f} s"))
        if "slow_planner" in d:
            for p, s in d["slow_planner"]["protocols"].items():
                rows.append((f"{p}, demo model, slow planner", "within 2 points", pct(s)))
            rows.append(("median s per plan (slow planner: 3 x 200 samples)", "-",
                         f"{d['slow_planner']['protocols']['tworoom-offset25']['median_plan_s']:.4f} s"))
    if "long" in results:
        d = results["long"]
        rows.append(("tworoom-long training time", "<= 1800 s", f"{d['train_s']:.0f} s"))
        for p, s in d["protocols"].items():
            rows.append((f"{p}, long model", ">= 90 %" if p.endswith("cross") else "-", pct(s)))
    if "world" in results:
        rows.append(("TwoRoom step + render 64x64", ">= 5,000 /s", f"{results['world']['steps_per_second']:,.0f} /s"))
    if "tests" in results:
        t = results["tests"]
        rows.append(("default test suite", "<= 900 s", f"{t['wall_s']:.0f} s ({t['summary']})"))
    print_table(rows, ("figure", "target", "measured"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["demo", "long", "world", "tests"],
                        choices=["demo", "long", "world", "tests"])
    parser.add_argument("--episodes", type=int, help="fewer protocol episodes (for a quick look; not the figure)")
    parser.add_argument("--work", type=Path, help="folder for data and runs (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tworoom.json")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="openami-bench-"))
    settings = {"episodes": args.episodes or "protocol", "work": str(work)}
    sections = {"demo": lambda: section_demo(work, args.episodes), "long": lambda: section_long(work, args.episodes),
                "world": section_world, "tests": section_tests}
    results = run_sections(args.sections, sections, lambda _: settings, args.out)
    table(results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
