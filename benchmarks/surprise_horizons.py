"""How many prediction horizons a frame's surprise should average: AUROC per violation type for 1..N.

python benchmarks/surprise_horizons.py RUN [RUN ...]              # tuning pairs (seed 7,000,000), 100 per type
python benchmarks/surprise_horizons.py RUN --max-horizons 4       # up to predictions made 4 steps before

A frame's surprise averages the z-scored errors of the predictions made 1..k model steps before it
(`surprise.horizons`). Each horizon is calibrated on its own, so the residuals are computed once, at the
largest k, and every smaller k reads the leading ones: the same figures as scoring with each k in turn. Writes
benchmarks/results/surprise-horizons.json, one entry per run and seed (others are kept).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from physics_tuning import add_run_arguments, load_physics_run, score_runs, surprise_cells
from provenance import ROOT
from tqdm.auto import tqdm

from openami.evaluation.surprise import (
    SurpriseConfig,
    calibrate,
    paired_accuracy_by_solid,
    prediction_residuals,
    scored_pairs,
    separation,
)
from openami.worlds.violations import VIOLATIONS


def score(run: Path, clips: int, seed: int, max_horizons: int) -> dict[str, Any]:
    model, run_config = load_physics_run(run)
    config = SurpriseConfig(clips_per_violation=clips, seed=seed, horizons=max_horizons)
    frameskip = run_config.train.frameskip
    scale = calibrate(model, config, frameskip)
    auroc: dict[int, dict[str, float]] = {k: {} for k in range(1, max_horizons + 1)}
    ledge_body: dict[int, dict[str, Any]] = {}
    for name in tqdm(VIOLATIONS, desc=run.name, unit="type", dynamic_ncols=True):
        pairs = scored_pairs(name, config, model.config.image_size)
        actions = np.stack([p.actions for p in pairs])
        possible, impossible = (prediction_residuals(model, np.stack([getattr(p, twin) for p in pairs]), actions,
                                                     frameskip, max_horizons) for twin in ("possible", "impossible"))
        for k in auroc:
            peaks = [np.nanmax(scale.leading(k)(r[:, :k]), axis=1) for r in (possible, impossible)]
            auroc[k][name] = separation(*peaks)["auroc"]
            if name == "pass_through":
                ledge_body[k] = paired_accuracy_by_solid(pairs, *peaks)
    return {"by_horizons": {str(k): {"auroc": auroc[k], "pass_through_by_solid": ledge_body[k]} for k in auroc}}


def rows(name: str, r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(name if k == "1" else "", k, *surprise_cells(part["auroc"], part["pass_through_by_solid"]))
            for k, part in r["by_horizons"].items()]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--max-horizons", type=int, default=3, help="score 1..N horizons (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "surprise-horizons.json")
    args = parser.parse_args(argv)
    if args.max_horizons < 1:
        raise SystemExit(f"surprise_horizons.py: --max-horizons must be at least 1, got {args.max_horizons}")
    return score_runs("surprise_horizons.py", args,
                      {"scale": SurpriseConfig().scale, "max_horizons": args.max_horizons},
                      lambda run: score(run, args.clips, args.seed, args.max_horizons), rows,
                      ("horizons", "pass-through", "paired: ledge / body", "velocity jump", "colour", "shape",
                       "teleport / vanish / appear"))


if __name__ == "__main__":
    main()
