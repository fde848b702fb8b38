"""The figures of physical understanding (probes, surprise, open-loop prediction), measured on this machine.

python benchmarks/understanding.py                     # both sections (about 30 minutes on 2 cores with bf16 units)
python benchmarks/understanding.py --sections physics  # one section; the other's figures are kept
python benchmarks/understanding.py --physics-run RUN   # score an existing run instead of training one

Sections:
  tworoom  the demo preset's model: agent-position probes (and a random encoder's), open-loop error
  physics  the `physics` preset trained from scratch (training time is a figure): probes of every
           body's position, velocity and angle; surprise AUROC per violation type; open-loop error
Writes benchmarks/results/understanding.json (each section with git commit, date, CPUs, torch, settings).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import print_table, run_sections

from openami.data.collect import collect
from openami.evaluation.probe import ProbeConfig, format_probe_table
from openami.evaluation.rollout import format_rollout_table
from openami.evaluation.surprise import SurpriseConfig, format_surprise_table
from openami.evaluation.understanding import run_probe, run_rollout, run_surprise
from openami.presets import load_preset
from openami.training import fit, load_model

ROOT = Path(__file__).resolve().parent.parent
STRONG = ("teleport", "vanish", "appear", "pass_through")
"""Violations held to AUROC >= 0.95; the others (velocity jump, identity changes) to >= 0.85."""


def train_preset(preset: str, work: Path) -> tuple[Path, dict[str, float]]:
    recipe = load_preset(preset)
    c = recipe.collect
    t = time.time()
    collect(c.world, c.episodes, work / "data", episode_length=c.episode_length, size=c.size, seed=c.seed,
            policy=c.policy, episodes_per_shard=c.episodes_per_shard)
    collect_s = time.time() - t
    t = time.time()
    fit(work / "data", work / "run", recipe.model, recipe.train)
    return work / "run", {"collect_s": collect_s, "train_s": time.time() - t}


def logged_train_seconds(run: Path) -> float:
    """Wall-clock seconds of training from RUN/metrics.jsonl; a resume restarts `elapsed_s`, so segments add up."""
    total = last = 0.0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        elapsed = json.loads(line).get("elapsed_s")
        if elapsed is None:
            continue
        if elapsed < last:
            total += last
        last = elapsed
    return total + last


def section(preset: str, work: Path, run: Path | None, clips: int, horizon: int) -> dict[str, Any]:
    timings: dict[str, float] = {}
    if run is None:
        run, timings = train_preset(preset, work / preset)
    else:  # the run's own log says how long its training took
        timings["train_s"] = logged_train_seconds(run)
    model, run_config = load_model(run)
    out = run.parent / "understanding"
    figures: dict[str, Any] = {"preset": load_preset(preset).to_dict(), "run": str(run), **timings}
    t = time.time()
    figures["probe"] = run_probe(model, run_config, out, config=ProbeConfig())
    figures["probe_s"] = time.time() - t
    print(format_probe_table(figures["probe"]), flush=True)
    if run_config.world == "openami/Physics-v0":
        t = time.time()
        figures["surprise"] = run_surprise(model, run_config, out, SurpriseConfig(clips_per_violation=clips))
        figures["surprise_s"] = time.time() - t
        figures["surprise"].pop("curves")  # the PNG shows them; the JSON keeps the figures
        print(format_surprise_table(figures["surprise"]), flush=True)
    figures["rollout"] = run_rollout(model, run, run_config, out, horizon=horizon, decoder=False)
    print(format_rollout_table(figures["rollout"]), flush=True)
    return figures


def table(results: dict[str, Any]) -> None:
    rows = []
    if "tworoom" in results:
        q = results["tworoom"]["probe"]["quantities"]["agent.position"]
        rows.append(("TwoRoom agent position, linear probe R²", ">= 0.99", f"{q['trained']['linear']['r2']:.4f}"))
        rows.append(("  same probe, random encoder", "reported", f"{q['random']['linear']['r2']:.4f}"))
        rows.append(("  MLP probe: trained / random encoder", "reported",
                     f"{q['trained']['mlp']['r2']:.4f} / {q['random']['mlp']['r2']:.4f}"))
        r = results["tworoom"]["rollout"]
        rows.append(("TwoRoom open-loop error at 5 steps, copy-last / model", ">= 2x", f"{r['ratio'][4]:.1f}x"))
    if "physics" in results:
        p = results["physics"]
        if "train_s" in p:
            rows.append(("physics model training time", "<= 1800 s", f"{p['train_s']:.0f} s"))
        for name, q in p["probe"]["quantities"].items():
            target = ">= 0.95" if name.endswith(".position") else "reported"
            rows.append((f"physics {name}, MLP probe R² (random enc.)", target,
                         f"{q['trained']['mlp']['r2']:.4f} ({q['random']['mlp']['r2']:.4f})"))
        for name, s in p["surprise"]["violations"].items():
            target = ">= 0.95" if name in STRONG else ">= 0.85"
            # results kept from before the copy-last baseline existed have none
            copy_last = f"; copy-last {s['copy_last']['auroc']:.3f}" if "copy_last" in s else ""
            rows.append((f"surprise AUROC, {name}", target, f"{s['auroc']:.3f} ({s['pairs']} pairs{copy_last})"))
        r = p["rollout"]
        rows.append(("physics open-loop error at 5 steps, copy-last / model", ">= 2x", f"{r['ratio'][4]:.1f}x"))
    print_table(rows, ("figure", "target", "measured"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["tworoom", "physics"], choices=["tworoom", "physics"])
    parser.add_argument("--tworoom-run", type=Path, help="score this TwoRoom run instead of training the demo preset")
    parser.add_argument("--physics-run", type=Path, help="score this physics run instead of training the preset")
    parser.add_argument("--clips", type=int, default=100, help="surprise pairs per violation type (default 100)")
    parser.add_argument("--horizon", type=int, default=10, help="open-loop steps (default 10)")
    parser.add_argument("--work", type=Path, help="folder for data and runs (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "understanding.json")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="openami-bench-"))
    runs = {"tworoom": args.tworoom_run, "physics": args.physics_run}
    sections = {name: (lambda name=name: section(name, work, runs[name], args.clips, args.horizon))
                for name in ("tworoom", "physics")}
    results = run_sections(args.sections, sections, lambda name: {
        "clips": args.clips, "horizon": args.horizon, "work": str(work),
        "run": str(runs[name]) if runs[name] else "trained by this script"}, args.out)
    table(results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
