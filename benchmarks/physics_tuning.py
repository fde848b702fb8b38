"""Tuning figures of physics runs, on surprise pairs that the published figures never use.

python benchmarks/physics_tuning.py RUN [RUN ...]   # score runs you trained, e.g. 800-step variants of the preset
python benchmarks/physics_tuning.py RUN --clips 40  # fewer pairs: faster, noisier (about ±0.04 AUROC)
python benchmarks/physics_tuning.py RUN --scale diagonal  # surprise per dimension, as before 2e5f412; "RUN (diagonal)"

Per run: surprise AUROC per violation type on pairs from seed 7,000,000 (benchmarks/understanding.py
scores seeds from 3,000,000), pass-through paired accuracy through the ledge and through a body; MLP
probe R² of each body's position and velocity; a logistic probe of each body's shape (ball or box) on
held-out episodes, which says whether the code holds shape at all (chance is about 50 %); open-loop
ratio (copy-last error / model error) at 1 and 5 steps; the training seconds from the run's log.
Choose variants here, then score only the chosen one on the test seeds, so that the published figures
are not tuned on. Writes benchmarks/results/physics-tuning.json, one entry per run (others are kept);
entries whose settings name no scale were scored before the covariance scale, per dimension, and those that
name no horizons were scored by one-step predictions alone (see benchmarks/surprise_horizons.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from provenance import ROOT, print_table, provenance, write_json
from sklearn.linear_model import LogisticRegression
from understanding import logged_train_seconds

from openami.data import open_dataset, split_episodes
from openami.errors import USER_ERRORS
from openami.evaluation.embed import encode_frames
from openami.evaluation.probe import ProbeConfig, probe
from openami.evaluation.rollout import held_out_episodes, rollout_errors
from openami.evaluation.surprise import SCALES, SurpriseConfig, evaluate_surprise
from openami.training import load_model
from openami.worlds.physics import BODY_NAMES, NUM_FIELDS, STATE_FIELDS

TUNING_SEED = 7_000_000
"""First seed of the tuning pairs: apart from the test pairs (3,000,000) and their calibration clips."""
SHAPE_FIELD = STATE_FIELDS.index("box")
"""Where a body's row of the state says whether it is a box."""


def add_run_arguments(parser: argparse.ArgumentParser, pairs: str = "pairs per violation type") -> None:
    """What every script scoring physics runs on surprise pairs takes: the runs, --clips and --seed."""
    parser.add_argument("runs", nargs="+", type=Path, help="physics run directories made by `ami train`")
    parser.add_argument("--clips", type=int, default=100, help=f"{pairs} (default 100)")
    parser.add_argument("--seed", type=int, default=TUNING_SEED, help=f"first test seed (default {TUNING_SEED})")


def load_physics_run(run: Path) -> tuple[Any, Any]:
    """(model, run config) of a physics run; exits with a clear message for a run of another world."""
    model, run_config = load_model(run)
    if run_config.world != "openami/Physics-v0":
        raise SystemExit(f"{run} was trained on {run_config.world}; this script scores physics runs")
    return model, run_config


def entry_name(run: Path, seed: int) -> str:
    """A run's key in a results JSON: its folder's name, with the first pair seed unless it is the tuning seed."""
    return run.resolve().name if seed == TUNING_SEED else f"{run.resolve().name} (seed {seed})"


def score_runs(script: str, args: argparse.Namespace, settings: dict[str, Any],
               score: Callable[[Path], dict[str, Any]], rows: Callable[[str, dict[str, Any]], list[tuple]],
               columns: tuple[str, ...]) -> dict[str, Any]:
    """Score each of args.runs, keep its entry in args.out (written after each run, other entries kept), and print
    the rows of all; `settings` go into each entry's provenance beside the run, clips and seed."""
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    table = []
    for run in args.runs:
        name = entry_name(run, args.seed)
        try:
            results[name] = {**provenance({"run": str(run), "clips": args.clips, "seed": args.seed, **settings}),
                             **score(run)}
        except USER_ERRORS as error:
            raise SystemExit(f"{script}: {error}") from None
        write_json(args.out, results)
        table += rows(name, results[name])
    print_table(table, ("run", *columns))
    print(f"wrote {args.out}")
    return results


def surprise_cells(auroc: dict[str, float], by_solid: dict[str, Any]) -> tuple[str, ...]:
    """A table row's surprise cells: pass-through, its paired accuracy through the ledge / a body, velocity jump,
    colour, shape, and teleport / vanish / appear."""
    return (f"{auroc['pass_through']:.3f}",
            " / ".join(f"{by_solid[s]['paired_accuracy']:.2f}" if s in by_solid else "-" for s in ("ledge", "body")),
            f"{auroc['velocity_jump']:.3f}", f"{auroc['colour_change']:.3f}", f"{auroc['shape_change']:.3f}",
            " / ".join(f"{auroc[v]:.3f}" for v in ("teleport", "vanish", "appear")))


def shape_probe(model: Any, experience: Any, frames: int = 8000, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of a logistic probe of each body's shape from one frame's embedding."""
    train_eps, test_eps = split_episodes(experience.num_episodes, 0.2, seed)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(experience.state), min(frames, len(experience.state)), replace=False))
    episode = np.searchsorted(experience.episode_offset, rows, side="right") - 1
    train = np.isin(episode, train_eps)
    z = encode_frames(model, experience.pixels[rows])
    accuracy = {}
    for i, name in enumerate(BODY_NAMES):
        is_box = experience.state[rows, NUM_FIELDS * i + SHAPE_FIELD] > 0.5
        clf = LogisticRegression(max_iter=3000).fit(z[train], is_box[train])
        accuracy[name] = float(clf.score(z[~train], is_box[~train]))
    return accuracy


def score_run(run: Path, clips: int, scale: str) -> dict[str, Any]:
    model, run_config = load_physics_run(run)
    experience = open_dataset(run_config.data)
    surprise = evaluate_surprise(model, run_config.world, run_config.train.frameskip,
                                 SurpriseConfig(clips_per_violation=clips, seed=TUNING_SEED, scale=scale),
                                 progress=False, baseline=False)
    probes = probe(model, experience, run_config.world,
                   ProbeConfig(max_train_frames=8000, max_test_frames=3000), random_baseline=False)
    rollout = rollout_errors(model, experience, held_out_episodes(run_config, experience.num_episodes),
                             horizon=5, frameskip=run_config.train.frameskip)
    return {
        "auroc": {name: v["auroc"] for name, v in surprise["violations"].items()},
        "pass_through_by_solid": surprise["violations"]["pass_through"].get("by_solid", {}),
        "probe_r2": {name: q["trained"]["mlp"]["r2"] for name, q in probes["quantities"].items()
                     if not name.endswith(".angle")},
        "shape_probe_accuracy": shape_probe(model, experience),
        "open_loop_ratio": {"1": rollout["ratio"][0], "5": rollout["ratio"][4]},
        "train_s": logged_train_seconds(run),
        "config": run_config.to_dict(),
    }


def row(name: str, r: dict[str, Any]) -> tuple[str, ...]:
    a, p = r["auroc"], r["probe_r2"]
    solid = r["pass_through_by_solid"]
    return (name, f"{a['pass_through']:.3f}",
            " / ".join(f"{solid[s]['paired_accuracy']:.2f}" if s in solid else "-" for s in ("ledge", "body")),
            f"{a['velocity_jump']:.3f}", f"{a['colour_change']:.3f}", f"{a['shape_change']:.3f}",
            " / ".join(f"{p[f'{b}.position']:.3f}" for b in BODY_NAMES),
            " / ".join(f"{v:.2f}" for v in r["shape_probe_accuracy"].values()),
            f"{r['open_loop_ratio']['1']:.2f}x -> {r['open_loop_ratio']['5']:.2f}x", f"{r['train_s']:.0f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="physics run directories made by `ami train`")
    parser.add_argument("--clips", type=int, default=100, help="surprise pairs per violation type (default 100)")
    parser.add_argument("--scale", default="covariance", choices=SCALES,
                        help="how surprise measures a residual (default covariance); other scales' entries are "
                             "named 'RUN (SCALE)'")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "physics-tuning.json")
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    names = [run.resolve().name + ("" if args.scale == "covariance" else f" ({args.scale})") for run in args.runs]
    for run, name in zip(args.runs, names, strict=True):
        print(f"== {run}", flush=True)
        started = provenance({"run": str(run), "clips": args.clips, "seed": TUNING_SEED, "scale": args.scale,
                              "horizons": SurpriseConfig().horizons})
        try:
            results[name] = {**started, **score_run(run, args.clips, args.scale)}
        except USER_ERRORS as error:
            raise SystemExit(f"physics_tuning.py: {error}") from None
        write_json(args.out, results)
    print_table([row(name, results[name]) for name in names],
                ("run", "pass-through", "paired: ledge / body", "velocity jump", "colour", "shape",
                 "positions r/b/g", "shape probe r/b/g", "open loop 1 -> 5", "train s"))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
