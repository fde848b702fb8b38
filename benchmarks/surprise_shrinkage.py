"""How far the covariance surprise scale should shrink its correlations: AUROC per violation type per shrinkage.

python benchmarks/surprise_shrinkage.py RUN [RUN ...]                  # tuning pairs (seed 7,000,000), 100 per type
python benchmarks/surprise_shrinkage.py RUN --shrinkages lw,0.1,0.3    # lw: Ledoit-Wolf's own choice

The covariance scale whitens a frame's latent residual by the second moments of the residuals on possible clips,
with their correlations blended toward none (`surprise.shrinkage`: 0 keeps them as measured, 1 drops them, which
is the diagonal scale). The residuals are computed once per run and every shrinkage reads them, so each row is what
scoring with that setting gives. Writes benchmarks/results/surprise-shrinkage.json, one entry per run and seed
(others are kept).
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
    SurpriseScale,
    calibration_residuals,
    paired_accuracy_by_solid,
    prediction_residuals,
    scored_pairs,
    separation,
)
from openami.worlds.violations import VIOLATIONS


def parse_shrinkages(text: str) -> list[float | None]:
    out: list[float | None] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            value = None if item == "lw" else float(item)
        except ValueError:
            raise SystemExit(f"surprise_shrinkage.py: --shrinkages takes 'lw' or numbers in [0, 1], got {item!r}") \
                from None
        if value is not None and not 0.0 <= value <= 1.0:
            raise SystemExit(f"surprise_shrinkage.py: a shrinkage must be between 0 and 1, got {value}")
        out.append(value)
    if not out:
        raise SystemExit("surprise_shrinkage.py: --shrinkages names none")
    return out


def score(run: Path, clips: int, seed: int, shrinkages: list[float | None]) -> dict[str, Any]:
    model, run_config = load_physics_run(run)
    config = SurpriseConfig(clips_per_violation=clips, seed=seed)
    frameskip = run_config.train.frameskip
    calibration = calibration_residuals(model, config, frameskip)
    twins = {}
    for name in tqdm(VIOLATIONS, desc=run.name, unit="type", dynamic_ncols=True):
        pairs = scored_pairs(name, config, model.config.image_size)
        actions = np.stack([p.actions for p in pairs])
        twins[name] = pairs, [prediction_residuals(model, np.stack([getattr(p, twin) for p in pairs]), actions,
                                                   frameskip, config.horizons) for twin in ("possible", "impossible")]
    out = {}
    for shrinkage in shrinkages:
        scale = SurpriseScale(calibration, "covariance", shrinkage)
        auroc, by_solid = {}, {}
        for name, (pairs, residuals) in twins.items():
            peaks = [np.nanmax(scale(r), axis=1) for r in residuals]
            auroc[name] = separation(*peaks)["auroc"]
            if name == "pass_through":
                by_solid = paired_accuracy_by_solid(pairs, *peaks)
        out["lw" if shrinkage is None else f"{shrinkage:g}"] = {"auroc": auroc, "pass_through_by_solid": by_solid}
    return {"horizons": config.horizons, "by_shrinkage": out}


def rows(name: str, r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(name if i == 0 else "", shrinkage, *surprise_cells(part["auroc"], part["pass_through_by_solid"]))
            for i, (shrinkage, part) in enumerate(r["by_shrinkage"].items())]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--shrinkages", default="lw,0,0.05,0.1,0.2,0.3,0.5,0.7,1",
                        help="comma-separated shrinkages to score; lw: Ledoit-Wolf's choice (default: "
                             "lw,0,0.05,0.1,0.2,0.3,0.5,0.7,1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "surprise-shrinkage.json")
    args = parser.parse_args(argv)
    shrinkages = parse_shrinkages(args.shrinkages)
    return score_runs("surprise_shrinkage.py", args, {"shrinkages": args.shrinkages},
                      lambda run: score(run, args.clips, args.seed, shrinkages), rows,
                      ("shrinkage", "pass-through", "paired: ledge / body", "velocity jump", "colour", "shape",
                       "teleport / vanish / appear"))


if __name__ == "__main__":
    main()
