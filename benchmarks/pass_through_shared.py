"""Whether physics models miss the same pass-throughs, and what averaging their surprise would gain.

python benchmarks/pass_through_shared.py RUN RUN [RUN ...]                # tuning pairs (seed 7,000,000)
python benchmarks/pass_through_shared.py RUN RUN [RUN ...] --seed 3000000  # the pairs of the published table

Each run scores the pass-through pairs as the protocol does (pass_through_misses.py's scoring). Then, per pair, how
many of the runs miss it (its impossible twin does not peak above its possible twin); the pairs a majority misses,
with the body, what it passes through, how deep, and where each twin's surprise peaks in the first run; and, for
every set of two or more runs (up to --largest), the AUROC of an ensemble whose per-frame surprise is the runs'
mean. If the misses were each model's own, averaging would remove them; if they are shared, they lie in the pairs
(legal contacts as surprising as the violation) and a better model of those contacts is what would help.
Writes benchmarks/results/pass-through-shared.json, one entry per seed and set of runs (others are kept).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
from pass_through_misses import pass_through_surprise
from physics_tuning import add_run_arguments
from provenance import ROOT, print_table, provenance, write_json

from openami.errors import USER_ERRORS
from openami.evaluation.surprise import separation
from openami.worlds.physics import BODY_NAMES


def shared_misses(pairs: list[Any], possible: np.ndarray, impossible: np.ndarray) -> dict[str, Any]:
    """Per pair, how many runs miss it; the pairs most runs miss. `possible`/`impossible`: (runs, N, L)."""
    runs = len(possible)
    missed_by = (np.nanmax(impossible, axis=2) <= np.nanmax(possible, axis=2)).sum(axis=0)  # (N,)
    majority = [{"pair": int(i), "missed_by": int(missed_by[i]), "body": BODY_NAMES[pairs[i].body],
                 "through": "ledge" if pairs[i].details["other"] == "ledge" else "body",
                 "depth": round(float(pairs[i].details["depth"]), 3), "event_frame": pairs[i].event_frame,
                 "possible_peak_frame": int(np.nanargmax(possible[0, i])),
                 "impossible_peak_frame": int(np.nanargmax(impossible[0, i]))}
                for i in np.flatnonzero(missed_by > runs / 2)]
    return {"pairs_missed_by": {str(k): int((missed_by == k).sum()) for k in range(runs + 1)},
            "missed_by_most": majority}


def ensembles(possible: np.ndarray, impossible: np.ndarray, largest: int) -> list[dict[str, Any]]:
    """AUROC of every ensemble of 2..largest runs (the mean of their per-frame surprise), summarised per size."""
    sizes = []
    for size in range(2, min(largest, len(possible)) + 1):
        aurocs = [separation(np.nanmax(possible[list(c)].mean(axis=0), axis=1),
                             np.nanmax(impossible[list(c)].mean(axis=0), axis=1))["auroc"]
                  for c in itertools.combinations(range(len(possible)), size)]
        sizes.append({"runs": size, "ensembles": len(aurocs), "mean_auroc": float(np.mean(aurocs)),
                      "min_auroc": float(np.min(aurocs)), "max_auroc": float(np.max(aurocs))})
    return sizes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, "pass-through pairs")
    parser.add_argument("--largest", type=int, default=3, help="largest ensemble scored (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pass-through-shared.json")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give two or more runs: the script compares their misses")
    scored = []
    for run in args.runs:
        print(f"== {run}", flush=True)
        try:
            scored.append(pass_through_surprise(run, args.clips, args.seed))
        except USER_ERRORS as error:
            raise SystemExit(f"pass_through_shared.py: {error}") from None
    pairs = scored[0].pairs
    possible, impossible = np.stack([s.possible for s in scored]), np.stack([s.impossible for s in scored])
    names = [run.resolve().name for run in args.runs]
    singles = {name: separation(np.nanmax(p, axis=1), np.nanmax(i, axis=1))["auroc"]
               for name, p, i in zip(names, possible, impossible, strict=True)}
    entry = {**provenance({"runs": [str(r) for r in args.runs], "clips": args.clips, "seed": args.seed,
                           "largest": args.largest}),
             "single_auroc": singles, **shared_misses(pairs, possible, impossible),
             "ensembles": ensembles(possible, impossible, args.largest)}
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results[f"seed {args.seed}: {', '.join(names)}"] = entry
    write_json(args.out, results)
    table = [(name, "1", f"{auroc:.3f}", "") for name, auroc in singles.items()]
    table += [("ensembles", str(e["runs"]), f"{e['mean_auroc']:.3f}", f"{e['min_auroc']:.3f}-{e['max_auroc']:.3f}")
              for e in entry["ensembles"]]
    print_table(table, ("runs", "size", "pass-through AUROC (mean)", "range"))
    print("pairs missed by k runs:", ", ".join(f"{k}: {n}" for k, n in entry["pairs_missed_by"].items()))
    for m in entry["missed_by_most"]:
        print(f"  pair {m['pair']}: missed by {m['missed_by']}, {m['body']} through the {m['through']} "
              f"{m['depth']:.3f} deep, event at frame {m['event_frame']}; peaks (first run) at frame "
              f"{m['possible_peak_frame']} (possible) and {m['impossible_peak_frame']} (impossible)")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
