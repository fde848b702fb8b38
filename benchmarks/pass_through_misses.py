"""Which pass-throughs a physics model misses: AUROC by how deep and fast the body goes, and how many boxes there are.

python benchmarks/pass_through_misses.py RUN [RUN ...]            # tuning pairs (seed 7,000,000), 100 of them
python benchmarks/pass_through_misses.py RUN --seed 3000000       # the pairs of the published table instead

For each run: the pass-through pairs split into thirds by depth (how far the body sinks into the ledge or the other
body; at least about 2 px by the generator's rule) and by the body's speed before the event, and by how many of the
world's three bodies are boxes (a box's bounce depends on its angle, which the code does not hold), with AUROC and
paired accuracy per part; per body (red is the pushed one) and solid, the AUROC of those impossible twins against
every possible twin, and how far the twins' embeddings part per pixel that body moves apart; the missed pairs
(impossible twin not peaking higher) split into those decided before the event (a legal contact earlier in the clip,
shared by both twins, surprises more) and those where the possible twin's own contact surprises as much; where the
possible twins that peak highest (above the impossible twins' lower quartile) peak, in frames after the clip's latest
collision, and each prediction horizon's mean error on the possible twins 0 to 4 frames after a collision and in
flight (how long a legal bounce keeps the predictions off); and, as a diagnostic that is not the protocol, the AUROC
of peaks taken after the event only. Writes
benchmarks/results/pass-through-misses.json, one entry per run and seed (others are kept).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from physics_tuning import add_run_arguments, entry_name, load_physics_run
from provenance import ROOT, print_table, provenance, write_json
from sklearn.metrics import roc_auc_score

from openami.errors import USER_ERRORS
from openami.evaluation.surprise import SurpriseConfig, calibrate, prediction_residuals, scored_pairs, separation
from openami.worlds.physics import BODY_NAMES, DT, GRAVITY, NUM_BODIES, NUM_FIELDS, PUSH_DV, STATE_FIELDS

COLLISION_DV = PUSH_DV * 2 ** 0.5 + GRAVITY * DT + 0.1
"""A body's velocity change in one step beyond what a full push and gravity can make: a collision (arena/s)."""
NEAR_COLLISION = 3
"""Frames after a collision that count as its aftermath."""


def thirds(values: np.ndarray, peak_possible: np.ndarray, peak_impossible: np.ndarray) -> list[dict[str, Any]]:
    """Separation of the pairs in each third of `values` (lowest first)."""
    edges = np.quantile(values, [0, 1 / 3, 2 / 3, 1])
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 2)
    return [{"from": float(edges[i]), "to": float(edges[i + 1]), "pairs": int((bins == i).sum()),
             **separation(peak_possible[bins == i], peak_impossible[bins == i])} for i in range(3)]


def by_boxes(pairs: list[Any], peak_possible: np.ndarray, peak_impossible: np.ndarray) -> list[dict[str, Any]]:
    """Separation of the pairs by how many bodies of their world are boxes (0 to NUM_BODIES)."""
    box = [NUM_FIELDS * b + STATE_FIELDS.index("box") for b in range(NUM_BODIES)]
    boxes = np.array([int((p.possible_state[0, box] > 0.5).sum()) for p in pairs])
    return [{"boxes": k, "pairs": int((boxes == k).sum()),
             **separation(peak_possible[boxes == k], peak_impossible[boxes == k])}
            for k in range(NUM_BODIES + 1) if (boxes == k).sum() >= 2]


def by_body(pairs: list[Any], peak_possible: np.ndarray, peak_impossible: np.ndarray) -> list[dict[str, Any]]:
    """AUROC of each body's pass-throughs (through the ledge, through a body) against every possible twin.

    Every possible twin is a negative, so that parts of a dozen pairs are ranked against the same hundred clips."""
    parts = []
    for body, name in enumerate(BODY_NAMES):
        for solid in ("ledge", "body"):
            mine = np.array([p.body == body and (p.details["other"] == "ledge") == (solid == "ledge") for p in pairs])
            if mine.sum() >= 2:
                labels = np.r_[np.zeros(len(peak_possible)), np.ones(mine.sum())]
                auroc = roc_auc_score(labels, np.r_[peak_possible, peak_impossible[mine]])
                parts.append({"body": name, "through": solid, "pairs": int(mine.sum()), "auroc": float(auroc)})
    return parts


@torch.no_grad()
def code_gain(model: Any, pairs: list[Any]) -> dict[str, float]:
    """Per body, how far the twins' embeddings part per pixel the body has moved apart (median).

    Taken 1 to 3 frames after the event, where the body is at least 2 px from its possible self: a body the code
    holds coarsely gives the predictor's error less room to show a pass-through."""
    model.eval()
    device = next(model.parameters()).device

    def encode(clips: list[np.ndarray]) -> torch.Tensor:
        return model.encode(torch.from_numpy(np.stack(clips)).to(device).permute(0, 1, 4, 2, 3)).float()

    apart = (encode([p.possible for p in pairs]) - encode([p.impossible for p in pairs])).norm(dim=-1).cpu().numpy()
    ratios: dict[int, list[float]] = {b: [] for b in range(NUM_BODIES)}
    for n, p in enumerate(pairs):
        xy = slice(NUM_FIELDS * p.body, NUM_FIELDS * p.body + 2)
        for t in range(p.event_frame + 1, min(p.event_frame + 4, len(p.possible))):
            pixels = p.possible.shape[1] * np.linalg.norm(p.possible_state[t, xy] - p.impossible_state[t, xy])
            if pixels >= 2:
                ratios[p.body].append(apart[n, t] / pixels)
    return {BODY_NAMES[b]: float(np.median(r)) for b, r in ratios.items() if r}


def frames_since_collision(pair: Any) -> np.ndarray:
    """Per frame of the possible twin, frames since its latest collision (-1 before the first): int (L,).

    A collision is a frame whose velocity of some body changed by more than COLLISION_DV in the step before it."""
    velocity = [NUM_FIELDS * b + k for b in range(NUM_BODIES) for k in (2, 3)]
    v = pair.possible_state[:, velocity].reshape(len(pair.possible_state), NUM_BODIES, 2)
    jolted = np.flatnonzero((np.linalg.norm(np.diff(v, axis=0), axis=-1) > COLLISION_DV).any(axis=1)) + 1
    return np.array([t - jolted[jolted <= t][-1] if (jolted <= t).any() else -1 for t in range(len(v))])


def peaks_after_collisions(since: np.ndarray, possible: np.ndarray, impossible: np.ndarray) -> dict[str, Any]:
    """Where the possible twins' surprise peaks, counted in frames after the clip's latest collision.

    Counted for every possible twin, and for those that cost AUROC most: the ones peaking above the lower quartile
    of the impossible twins' peaks. If those peak near collisions more often than frames lie near one (the share
    of all predicted frames within NEAR_COLLISION frames after a collision), legal bounces are what outshines
    the violations. `since`: frames_since_collision of each pair (N, L)."""
    predicted = ~np.isnan(possible)
    after = since[np.arange(len(since)), np.nanargmax(possible, axis=1)]  # -1: no collision before the peak
    high = np.nanmax(possible, axis=1) > np.quantile(np.nanmax(impossible, axis=1), 0.25)

    def histogram(mask: np.ndarray) -> dict[str, int]:
        counts = {str(k): int((after[mask] == k).sum()) for k in range(NEAR_COLLISION + 1)}
        return {**counts, "later": int((after[mask] > NEAR_COLLISION).sum()), "none": int((after[mask] < 0).sum())}

    near = predicted & (since >= 0) & (since <= NEAR_COLLISION)
    return {"all": histogram(np.ones_like(high)), "above_impossible_lower_quartile": histogram(high),
            "share_of_frames_near_collision": float(near.sum() / predicted.sum())}


def aftermath(since: np.ndarray, possible_by_horizon: np.ndarray) -> dict[str, Any]:
    """Each horizon's mean z-scored error on the possible twins, 0..NEAR_COLLISION + 1 frames after a collision
    and in flight (later, or before any): how long a legal bounce keeps the model's predictions off."""
    in_flight = (since < 0) | (since > NEAR_COLLISION + 1)
    masks = {**{str(k): since == k for k in range(NEAR_COLLISION + 2)}, "in_flight": in_flight}
    return {f"horizon_{h + 1}": {name: float(np.nanmean(possible_by_horizon[:, h][mask]))
                                 for name, mask in masks.items()}
            for h in range(possible_by_horizon.shape[1])}


@dataclass
class ScoredPairs:
    """The pass-through pairs of one run, scored as the protocol scores them."""

    model: Any
    pairs: list[Any]
    possible: np.ndarray
    """The possible twins' surprise per frame (N, L)."""
    impossible: np.ndarray
    possible_by_horizon: np.ndarray
    """The possible twins' z-scored error per horizon (N, horizons, L), of which `possible` is the mean."""


def pass_through_surprise(run: Path, clips: int, seed: int) -> ScoredPairs:
    """A run's pass-through pairs (`clips` of them from `seed`), calibrated and scored as `ami eval surprise` does."""
    model, run_config = load_physics_run(run)
    config = SurpriseConfig(clips_per_violation=clips, seed=seed)
    frameskip = run_config.train.frameskip
    scale = calibrate(model, config, frameskip)
    pairs = scored_pairs("pass_through", config, model.config.image_size)
    actions = np.stack([p.actions for p in pairs])
    possible, impossible = (prediction_residuals(model, np.stack([getattr(p, twin) for p in pairs]), actions,
                                                 frameskip, config.horizons) for twin in ("possible", "impossible"))
    return ScoredPairs(model, pairs, scale(possible), scale(impossible), scale.z_scores(possible))


def analyse(run: Path, clips: int, seed: int) -> dict[str, Any]:
    scored = pass_through_surprise(run, clips, seed)
    model, pairs, possible, impossible = scored.model, scored.pairs, scored.possible, scored.impossible
    events = np.array([p.event_frame for p in pairs])
    after = np.arange(possible.shape[1])[None, :] >= events[:, None]
    peak_possible, peak_impossible = np.nanmax(possible, axis=1), np.nanmax(impossible, axis=1)
    before_possible = np.nanmax(np.where(after, -np.inf, possible), axis=1)  # shared by both twins
    after_possible = np.nanmax(np.where(after, possible, -np.inf), axis=1)
    after_impossible = np.nanmax(np.where(after, impossible, -np.inf), axis=1)
    depth = np.array([p.details["depth"] for p in pairs])
    velocity = [p.possible_state[p.event_frame - 1, NUM_FIELDS * p.body + 2:NUM_FIELDS * p.body + 4] for p in pairs]
    speed = np.linalg.norm(np.array(velocity), axis=1)
    missed = ~(peak_impossible > peak_possible)
    since = np.stack([frames_since_collision(pair) for pair in pairs])  # (N, L)
    return {"overall": separation(peak_possible, peak_impossible),
            "by_depth": thirds(depth, peak_possible, peak_impossible),
            "by_speed": thirds(speed, peak_possible, peak_impossible),
            "by_boxes": by_boxes(pairs, peak_possible, peak_impossible),
            "by_body": by_body(pairs, peak_possible, peak_impossible),
            "code_gain_per_pixel": code_gain(model, pairs),
            "missed": int(missed.sum()),
            "missed_before_event": int((missed & (before_possible >= after_impossible)).sum()),
            "missed_by_own_contact": int((missed & (before_possible < after_impossible)).sum()),
            "after_event_auroc": separation(after_possible, after_impossible)["auroc"],
            "possible_peaks": peaks_after_collisions(since, possible, impossible),
            "possible_error_after_collisions": aftermath(since, scored.possible_by_horizon)}


def rows(name: str, r: dict[str, Any]) -> list[tuple[str, ...]]:
    out = [(name, "all", f"{r['overall']['auroc']:.3f}", f"{r['overall']['paired_accuracy']:.2f}", "")]
    for split, unit in (("by_depth", "arena"), ("by_speed", "arena/s")):
        for third in r[split]:
            out.append(("", f"{split[3:]} {third['from']:.3f}-{third['to']:.3f} {unit}", f"{third['auroc']:.3f}",
                        f"{third['paired_accuracy']:.2f}", str(third["pairs"])))
    for part in r.get("by_body", []):
        out.append(("", f"{part['body']} through {'the ledge' if part['through'] == 'ledge' else 'a body'}",
                    f"{part['auroc']:.3f}", "", str(part["pairs"])))
    for part in r.get("by_boxes", []):
        out.append(("", f"{part['boxes']} box{'es' if part['boxes'] != 1 else ''} in the world", f"{part['auroc']:.3f}",
                    f"{part['paired_accuracy']:.2f}", str(part["pairs"])))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, "pass-through pairs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pass-through-misses.json")
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    table, names = [], []
    for run in args.runs:
        print(f"== {run}", flush=True)
        name = entry_name(run, args.seed)
        try:
            results[name] = {**provenance({"run": str(run), "clips": args.clips, "seed": args.seed,
                                           "scale": SurpriseConfig().scale,
                                           "horizons": SurpriseConfig().horizons}),
                             **analyse(run, args.clips, args.seed)}
        except USER_ERRORS as error:
            raise SystemExit(f"pass_through_misses.py: {error}") from None
        write_json(args.out, results)
        table += rows(name, results[name])
        names.append(name)
    print_table(table, ("run", "pairs", "AUROC", "paired", "n"))
    for name in names:
        r = results[name]
        print(f"{name}: {r['missed']} pairs missed, {r['missed_before_event']} of them decided by a "
              f"legal contact before the event, {r['missed_by_own_contact']} by the possible twin's own contact; "
              f"AUROC of peaks after the event only (a diagnostic): {r['after_event_auroc']:.3f}")
        gains = ", ".join(f"{body} {gain:.2f}" for body, gain in r["code_gain_per_pixel"].items())
        print(f"{name}: embedding distance between the twins per pixel the body moved apart: {gains}")
        c = r["possible_peaks"]
        high = c["above_impossible_lower_quartile"]
        print(f"{name}: possible twins peaking above the impossible twins' lower quartile: {sum(high.values())}; "
              f"their peaks by frames after the latest collision: {', '.join(f'{k}: {n}' for k, n in high.items())} "
              f"(of all frames, {c['share_of_frames_near_collision']:.0%} lie 0-{NEAR_COLLISION} after one)")
        for horizon, means in r["possible_error_after_collisions"].items():
            print(f"{name}: possible twins' mean z-scored error, {horizon.replace('_', ' ')}, by frames after a "
                  f"collision: {', '.join(f'{k}: {v:.2f}' for k, v in means.items())}")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
