"""Surprise at impossible events: violation-of-expectation on paired clips.

Each test pair is a possible clip and an impossible twin that is pixel-identical up to an event
frame where physics is broken (see `openami.worlds.violations`). A frame's surprise is the
world model's latent prediction error (of its predictions made one and two steps before), measured
against the errors it makes on separate possible clips (by their covariance, or per dimension) and
z-scored; a clip's score is its peak surprise. AUROC per violation type says
how well the peak separates impossible clips from possible ones (0.5 = chance).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.covariance import LedoitWolf, ShrunkCovariance
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from openami.config import Config, check
from openami.models import WorldModel

SURPRISE_SEED = 3_000_000
"""First seed of the test clips: far from collection seeds (0...) and planning protocols (1e6...)."""
_CALIBRATION_OFFSET = 500_000
_SEEDS_PER_VIOLATION = 10_000
SCALES = ("covariance", "diagonal")
"""Ways SurpriseScale can measure a residual against those of possible clips."""
Rollout = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A predictor's open loop: (windows (B, history, D), actions (B, H, A)) -> predictions (B, H, D)."""


def _violation_names() -> tuple[str, ...]:
    from openami.worlds.violations import VIOLATIONS

    return tuple(VIOLATIONS)


def _seed_offset(violation: str) -> int:
    """Where a violation type's seeds start, from its place in VIOLATIONS: the same pairs whichever
    types a run scores."""
    return _violation_names().index(violation) * _SEEDS_PER_VIOLATION


@dataclass(frozen=True)
class SurpriseConfig(Config):
    """Which clips are scored and how surprise is normalised."""

    clips_per_violation: int = 50
    """Test pairs per violation type."""
    calibration_clips: int = 40
    """Possible clips (separate seeds) giving the typical error that surprise is measured against."""
    length: int = 32
    """Frames per clip."""
    violations: tuple[str, ...] = ()
    """Violation types to score (empty: all of them)."""
    horizons: int = 2
    """A frame's surprise averages the errors of its predictions made 1..horizons model steps earlier.

    Two steps raised pass-through on the tuning pairs of all 13 full-length physics models tried (by
    0.005 to 0.022; BENCHMARKS.md): a body sinking slowly into a solid drifts further from a prediction
    made before it began than from one made a step later. Three steps gained 0.001 more on average, and
    each step costs velocity jumps about 0.01, since open-loop predictions also miss legal collisions."""
    scale: str = "covariance"
    """How a frame's latent residual is measured against the residuals of possible clips: ``covariance``,
    its Mahalanobis distance under their covariance (Ledoit-Wolf shrunk), so that an error along a direction
    in which the model often errs counts less than one along a direction in which it rarely does; or
    ``diagonal``, each dimension's squared residual over its mean, the covariance's diagonal alone.
    Covariance scored higher on tuning seeds (BENCHMARKS.md)."""
    shrinkage: float | None = None
    """How far the covariance scale's correlations are pulled toward none, 0 (as measured) to 1 (none: the
    diagonal scale); None lets Ledoit-Wolf choose from the calibration residuals (0.05-0.09 on physics models).
    On the preset's tuning pairs 0.05 to 0.7 score within 0.002 of its choice on pass-through (BENCHMARKS.md).
    Unused by ``diagonal``."""
    seed: int = SURPRISE_SEED
    """Test pair i of the k-th type in VIOLATIONS has seed seed + 10000 k + i (whichever types are scored);
    calibration clips start at seed + 500000."""

    def __post_init__(self) -> None:
        check(self.clips_per_violation >= 2, "surprise.clips_per_violation must be at least 2")
        check(self.calibration_clips >= 2, "surprise.calibration_clips must be at least 2")
        check(self.horizons >= 1, f"surprise.horizons must be at least 1, got {self.horizons}")
        check(self.scale in SCALES, f"surprise.scale must be one of {', '.join(SCALES)}, got {self.scale!r}")
        check(self.shrinkage is None or 0.0 <= self.shrinkage <= 1.0,
              f"surprise.shrinkage must be between 0 and 1, or null for Ledoit-Wolf's choice, got {self.shrinkage}")
        check(self.length >= 24, f"surprise.length must be at least 24 frames (events fall in frames 8-23), "
                                 f"got {self.length}")
        check(self.clips_per_violation <= _SEEDS_PER_VIOLATION,
              f"surprise.clips_per_violation must be at most {_SEEDS_PER_VIOLATION}")


def prediction_residuals(model: WorldModel, clips: np.ndarray, actions: np.ndarray, frameskip: int = 1,
                         horizons: int = 1, copy_last: bool = False) -> np.ndarray:
    """Latent residuals of open-loop predictions: clips uint8 (N, L, H, W, C), actions (N, L, A).

    Returns (N, horizons, L, D): entry [:, k-1, t] is the prediction of frame t's embedding made k
    model steps earlier, from the real frames before and the real actions, minus that embedding.
    The model sees every `frameskip`-th frame; entries with no prediction are NaN. With `copy_last`
    the prediction is the last real embedding instead (the baseline that expects nothing to change).
    """
    return _residuals(model, clips, actions, frameskip, horizons, (copy_last,))[0]


def residuals_with_copy_last(model: WorldModel, clips: np.ndarray, actions: np.ndarray, frameskip: int = 1,
                             horizons: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`prediction_residuals` of the model and of the copy-last baseline, encoding the clips once."""
    model_residuals, copy_last_residuals = _residuals(model, clips, actions, frameskip, horizons, (False, True))
    return model_residuals, copy_last_residuals


@torch.no_grad()
def _residuals(model: WorldModel, clips: np.ndarray, actions: np.ndarray, frameskip: int, horizons: int,
               copy_last: tuple[bool, ...]) -> list[np.ndarray]:
    """One (N, horizons, L, D) array per entry of `copy_last`, from one encoding of the clips."""
    model.eval()
    device = next(model.parameters()).device
    length = clips.shape[1]
    steps = (length - 1) // frameskip + 1
    if steps <= model.config.history:
        raise ValueError(f"clips of {length} frames give {steps} model steps; "
                         f"need more than history={model.config.history}")
    frames = torch.from_numpy(np.ascontiguousarray(clips[:, ::frameskip][:, :steps])).to(device).permute(0, 1, 4, 2, 3)
    z = model.encode(frames)  # (N, K, D)
    return [code_residuals(z, actions, None if copying else model.rollout, model.config.history, horizons,
                           frameskip, length) for copying in copy_last]


@torch.no_grad()
def code_residuals(z: torch.Tensor, actions: np.ndarray, rollout: Rollout | None, history: int, horizons: int,
                   frameskip: int, length: int) -> np.ndarray:
    """`prediction_residuals` from codes already made: z (N, K, D) of every `frameskip`-th frame of clips of
    `length` frames, their world actions (N, L, A), and a predictor's open loop (`Rollout`; None predicts the
    last code: copy-last). Any code will do: a world model's embeddings, or
    the true state (benchmarks/state_ceiling.py)."""
    n, steps = z.shape[:2]
    f = frameskip
    # The model's action from step k to k+1 is the f world actions between them, concatenated;
    # zero actions pad the end, and predictions past the clip are dropped.
    act = torch.from_numpy(np.ascontiguousarray(actions[:, : (steps - 1) * f], np.float32)).to(z.device)
    act = act.reshape(n, steps - 1, -1)
    act = torch.cat([act, act.new_zeros(n, horizons, act.shape[-1])], dim=1)  # (N, K-1+horizons, f*A)
    starts = range(history - 1, steps - 1)  # index of the last real frame each rollout sees
    windows = torch.stack([z[:, s - history + 1:s + 1] for s in starts], dim=1)  # (N, S, h, D)
    if rollout is None:
        pred = windows[:, :, -1:].expand(-1, -1, horizons, -1)
    else:
        plans = torch.stack([act[:, s:s + horizons] for s in starts], dim=1)  # (N, S, horizons, f*A)
        pred = rollout(windows.flatten(0, 1), plans.flatten(0, 1)).view(n, len(starts), horizons, -1)
    out = np.full((n, horizons, length, z.shape[-1]), np.nan)
    for i, s in enumerate(starts):
        for k in range(1, min(horizons, steps - 1 - s) + 1):
            out[:, k - 1, (s + k) * f] = (pred[:, i, k - 1] - z[:, s + k]).double().cpu().numpy()
    return out


def frame_errors(model: WorldModel, clips: np.ndarray, actions: np.ndarray, frameskip: int = 1) -> np.ndarray:
    """One-step latent prediction error per frame (N, L); NaN where the model predicts nothing."""
    return (prediction_residuals(model, clips, actions, frameskip, 1)[:, 0] ** 2).mean(axis=-1)


class SurpriseScale:
    """Measures residuals in units of their typical size on possible clips.

    Per prediction horizon, a residual's error is its squared Mahalanobis distance under the second
    moments of the possible clips' residuals (``covariance``; their correlations are shrunk toward
    none, since a thousand or so residuals estimate a 128 x 128 matrix: by ``shrinkage``, 0 to 1, or as far
    as Ledoit-Wolf chooses when it is None), or the same with
    the off-diagonal moments left out (``diagonal``: each dimension's squared residual over its mean,
    so a change in a quiet dimension counts as much as one in a busy dimension). Either is divided
    by the dimension count and z-scored per horizon; a frame's surprise is the mean z-score over the
    horizons that predicted it.
    """

    def __init__(self, possible_residuals: np.ndarray, kind: str = "covariance",
                 shrinkage: float | None = None) -> None:  # (N, K, L, D)
        if kind not in SCALES:
            raise ValueError(f"unknown surprise scale {kind!r}; valid: {', '.join(SCALES)}")
        if shrinkage is not None and not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must be between 0 and 1 (or None for Ledoit-Wolf's), got {shrinkage}")
        self.kind, self.shrinkage = kind, shrinkage
        horizons = possible_residuals.shape[1]
        self.precision = np.stack([self._precision(possible_residuals[:, k]) for k in range(horizons)])  # (K, D, D)
        errors = self._errors(possible_residuals)  # (N, K, L)
        self.mean = np.nanmean(errors, axis=(0, 2))  # (K,)
        self.std = np.nanstd(errors, axis=(0, 2)) + 1e-12

    def leading(self, horizons: int) -> SurpriseScale:
        """The same scale over the first `horizons` horizons only: what calibrating with that many gives."""
        if not 1 <= horizons <= len(self.precision):
            raise ValueError(f"this scale holds horizons 1..{len(self.precision)}, not {horizons}")
        fewer = copy.copy(self)
        fewer.precision, fewer.mean, fewer.std = (a[:horizons] for a in (self.precision, self.mean, self.std))
        return fewer

    def _precision(self, residuals: np.ndarray) -> np.ndarray:
        """The inverse second-moment matrix (D, D) of one horizon's residuals (N, L, D), NaN rows left out."""
        rows = residuals.reshape(-1, residuals.shape[-1])
        rows = rows[~np.isnan(rows).any(axis=1)]
        rms = np.sqrt(np.mean(rows ** 2, axis=0)) + 1e-12
        if self.kind == "diagonal":
            return np.diag(1.0 / rms ** 2)
        # Shrink the correlations, not the raw moments: Ledoit-Wolf pulls toward a multiple of the identity,
        # which would drown a quiet dimension in the busy ones' scale. Moments are about zero, like the
        # diagonal's, so a prediction that is off on average is surprising.
        if self.shrinkage is None:
            correlation_precision = LedoitWolf(assume_centered=True).fit(rows / rms).precision_
        else:  # the blend Ledoit-Wolf would make, at a chosen weight
            correlation = ShrunkCovariance(assume_centered=True, shrinkage=self.shrinkage).fit(rows / rms)
            correlation_precision = correlation.precision_
        return correlation_precision / rms[:, None] / rms[None, :]

    def _errors(self, residuals: np.ndarray) -> np.ndarray:
        quadratic = np.einsum("nkld,kde,nkle->nkl", residuals, self.precision, residuals)
        return quadratic / residuals.shape[-1]

    def z_scores(self, residuals: np.ndarray) -> np.ndarray:
        """Each horizon's z-scored error per frame (N, horizons, L), NaN where that horizon predicted nothing."""
        if residuals.shape[1] != len(self.precision):
            raise ValueError(f"residuals of {residuals.shape[1]} horizons against a scale calibrated on "
                             f"{len(self.precision)}: compute both with the same surprise.horizons")
        return (self._errors(residuals) - self.mean[None, :, None]) / self.std[None, :, None]

    def __call__(self, residuals: np.ndarray) -> np.ndarray:
        """Per-frame surprise (N, L), NaN where nothing was predicted: the mean of `z_scores` over horizons."""
        z = self.z_scores(residuals)
        with warnings.catch_warnings():  # frames no horizon predicted are all-NaN, and stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(z, axis=1)


def separation(peak_possible: np.ndarray, peak_impossible: np.ndarray) -> dict[str, float]:
    """How well peak surprise tells impossible clips (positives) from their possible twins.

    AUROC over all clips of one violation type, and the paired accuracy: the share of pairs
    whose impossible twin peaks higher than its own possible clip.
    """
    peak_possible, peak_impossible = np.asarray(peak_possible, float), np.asarray(peak_impossible, float)
    labels = np.r_[np.zeros(len(peak_possible)), np.ones(len(peak_impossible))]
    return {"auroc": float(roc_auc_score(labels, np.r_[peak_possible, peak_impossible])),
            "paired_accuracy": float(np.mean(peak_impossible > peak_possible))}


def paired_accuracy_by_solid(pairs: list[Any], peak_possible: np.ndarray,
                             peak_impossible: np.ndarray) -> dict[str, Any]:
    """Paired accuracy of pass-throughs, split by what is passed through: the ledge or another body.

    The two need different predictions (a bounce off a still solid or a collision of two moving
    bodies), and the model may have learnt one far better than the other."""
    solids = np.array(["ledge" if p.details.get("other") == "ledge" else "body" for p in pairs])
    split = {}
    for solid in ("ledge", "body"):
        mine = solids == solid
        if mine.any():
            split[solid] = {"pairs": int(mine.sum()),
                            "paired_accuracy": float(np.mean(peak_impossible[mine] > peak_possible[mine]))}
    return split


def scored_pairs(violation: str, config: SurpriseConfig, size: int) -> list[Any]:
    """The test pairs of one violation type that `evaluate_surprise` scores under this config."""
    from openami.worlds.violations import make_paired_clips

    return make_paired_clips(violation, config.clips_per_violation, seed=config.seed + _seed_offset(violation),
                             length=config.length, size=size)


def calibration_pairs(config: SurpriseConfig, size: int) -> list[list[Any]]:
    """The pairs whose possible clips calibrate the scale, per violation type, with seeds of their own."""
    from openami.worlds.violations import make_paired_clips

    names = config.violations or _violation_names()
    share = -(-config.calibration_clips // len(names))
    return [make_paired_clips(name, share, seed=config.seed + _CALIBRATION_OFFSET + _seed_offset(name),
                              length=config.length, size=size) for name in names]


def _calibration_clips(model: WorldModel, config: SurpriseConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(possible clips, actions) per violation type, from every kind of scene."""
    return [(np.stack([p.possible for p in pairs]), np.stack([p.actions for p in pairs]))
            for pairs in calibration_pairs(config, model.config.image_size)]


def calibration_residuals(model: WorldModel, config: SurpriseConfig, frameskip: int,
                          copy_last: bool = False) -> np.ndarray:
    """Residuals (N, horizons, L, D) on possible clips with their own seeds, from every kind of scene."""
    return np.concatenate([prediction_residuals(model, clips, actions, frameskip, config.horizons, copy_last)
                           for clips, actions in _calibration_clips(model, config)])


def calibrate(model: WorldModel, config: SurpriseConfig, frameskip: int, copy_last: bool = False) -> SurpriseScale:
    """The typical residuals on possible clips, as a scale (see `calibration_residuals`)."""
    return SurpriseScale(calibration_residuals(model, config, frameskip, copy_last), config.scale, config.shrinkage)


def calibrate_with_copy_last(model: WorldModel, config: SurpriseConfig,
                             frameskip: int) -> tuple[SurpriseScale, SurpriseScale]:
    """`calibrate` for the model and for the copy-last baseline, encoding the clips once."""
    both = [residuals_with_copy_last(model, clips, actions, frameskip, config.horizons)
            for clips, actions in _calibration_clips(model, config)]
    model_scale, copy_last_scale = (SurpriseScale(np.concatenate(residuals), config.scale, config.shrinkage)
                                    for residuals in zip(*both, strict=True))
    return model_scale, copy_last_scale


def evaluate_surprise(model: WorldModel, world_id: str, frameskip: int, config: SurpriseConfig | None = None,
                      progress: bool = True, examples: int = 1, baseline: bool = True) -> dict[str, Any]:
    """AUROC of peak surprise, impossible against possible twins, per violation type.

    With `baseline`, each type is also scored with the model's encoder and a prediction that nothing
    changes (the last embedding, calibrated the same way): what detecting change alone flags, so
    that the figure the world model's predictions add can be read off (``copy_last`` per type)."""
    config = config or SurpriseConfig()
    if world_id != "openami/Physics-v0":
        raise ValueError(f"surprise clips exist for the physics world only, but this model was trained on "
                         f"{world_id}: train one on `--world physics` (the `physics` preset)")
    known = _violation_names()
    names = config.violations or known
    unknown = [v for v in names if v not in known]
    if unknown:
        raise ValueError(f"unknown violation types {unknown}; valid: {', '.join(known)}")
    if baseline:
        scale, baseline_scale = calibrate_with_copy_last(model, config, frameskip)
    else:
        scale, baseline_scale = calibrate(model, config, frameskip), None
    results: dict[str, Any] = {}
    curves: dict[str, list[dict[str, Any]]] = {}
    for name in tqdm(names, desc="surprise", unit="type", disable=not progress, dynamic_ncols=True):
        pairs = scored_pairs(name, config, model.config.image_size)
        actions = np.stack([p.actions for p in pairs])
        twins = [np.stack([getattr(p, twin) for p in pairs]) for twin in ("possible", "impossible")]
        if baseline_scale is None:
            residuals = [prediction_residuals(model, clips, actions, frameskip, config.horizons) for clips in twins]
        else:
            residuals, copy_last = zip(*(residuals_with_copy_last(model, clips, actions, frameskip, config.horizons)
                                         for clips in twins), strict=True)
        possible, impossible = (scale(r) for r in residuals)
        peak_possible, peak_impossible = np.nanmax(possible, axis=1), np.nanmax(impossible, axis=1)
        results[name] = {
            **separation(peak_possible, peak_impossible),
            "pairs": len(pairs),
            "median_peak_possible": float(np.median(peak_possible)),
            "median_peak_impossible": float(np.median(peak_impossible))}
        if baseline_scale is not None:
            results[name]["copy_last"] = separation(*(np.nanmax(baseline_scale(r), axis=1) for r in copy_last))
        if name == "pass_through":
            results[name]["by_solid"] = paired_accuracy_by_solid(pairs, peak_possible, peak_impossible)
        curves[name] = [{"seed": p.seed, "body": p.body, "event_frame": p.event_frame,
                         "possible": possible[i].tolist(), "impossible": impossible[i].tolist()}
                        for i, p in enumerate(pairs[:examples])]
    return {"world": world_id, "violations": results,
            "calibration": {"mean_error": scale.mean.tolist(), "std_error": scale.std.tolist()},
            "curves": curves, "config": config.to_dict()}


def format_surprise_table(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [f"surprise on {result['world']}: {cfg['clips_per_violation']} pairs per violation, "
             f"{cfg['length']} frames; peak z-scored latent error ({cfg['scale']} scale, "
             f"{cfg['horizons']} horizon{'s' if cfg['horizons'] > 1 else ''})",
             f"  {'violation':<16} {'AUROC':>6} {'paired acc':>11} {'median peak: possible':>22} {'impossible':>11}"
             f" {'copy-last AUROC':>16}"]
    for name, r in result["violations"].items():
        copy_last = f"{r['copy_last']['auroc']:>16.3f}" if "copy_last" in r else f"{'-':>16}"
        lines.append(f"  {name:<16} {r['auroc']:>6.3f} {r['paired_accuracy']:>11.2f} "
                     f"{r['median_peak_possible']:>22.1f} {r['median_peak_impossible']:>11.1f} {copy_last}")
        for solid, part in r.get("by_solid", {}).items():
            lines.append(f"    through {'the ledge' if solid == 'ledge' else 'a body':<10} {'':>6} "
                         f"{part['paired_accuracy']:>11.2f}   ({part['pairs']} pairs)")
    return "\n".join(lines)
