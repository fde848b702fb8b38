"""How far would perfect perception take surprise? The preset's predictor on the true state, scored alike.

python benchmarks/state_ceiling.py --data DATA     # DATA: the physics preset's (`ami collect --preset physics`)
python benchmarks/state_ceiling.py --data DATA --codes position --steps 2000 --threads 1
python benchmarks/state_ceiling.py --data DATA --codes position --predictor mlp --steps 40000
python benchmarks/state_ceiling.py --data DATA8000 --codes position --predictor mlp --steps 40000
    # DATA8000: `ami collect --preset physics --episodes 8000 --out DATA8000` (96 s, 9.4 GB)

A pixel world model can only be as surprised as its code lets it be. Here the code is each body's true state, read
from the simulator, in place of a learnt embedding: ``position`` is each body's place and shape (ball or box), what
the preset's code holds well (probes R² 0.99); ``motion`` adds its velocity; ``pose`` adds, to the position, the angle
as far as the body's symmetry shows it (4θ for a box), which spinning boxes alias from frame to frame. The physics
preset's predictor (its width, depth, history, open-loop steps, learning rate, precision and hard-window sampling)
learns to predict that code, fixed and standardised; then the surprise protocol runs on the code unchanged:
calibration on the same possible clips, the same scale, horizons and peak, the same pairs. Violations the state
does not record (vanish and appear keep the body's state, colour is not in it) are not scored. What it reaches bounds
what a better encoder could add to the preset's predictor and protocol; copy-last on the same code is what change
alone flags. ``--predictor mlp`` swaps in an MLP of the same width and depth over the flattened history (about 25x
cheaper a step here), so that the ceiling of a predictor trained far longer can be measured; ``--precision fp32``
drops the preset's bf16.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from physics_tuning import TUNING_SEED
from provenance import ROOT, print_table, run_sections
from tqdm.auto import tqdm

from openami.data import WindowDataset, open_dataset, split_episodes
from openami.device import resolve_precision
from openami.evaluation.surprise import (
    SURPRISE_SEED,
    SurpriseConfig,
    SurpriseScale,
    calibration_pairs,
    code_residuals,
    scored_pairs,
    separation,
)
from openami.losses import prediction_loss
from openami.models.predictors import PREDICTORS, build_predictor
from openami.presets import load_preset
from openami.training.sampling import WindowSampler
from openami.training.trainer import learning_rate
from openami.worlds.physics import NUM_BODIES, NUM_FIELDS, SHAPE_SYMMETRY, STATE_FIELDS

CODES = ("position", "motion", "pose")
PHYSICS_WORLD = "openami/Physics-v0"
SCORED = ("teleport", "pass_through", "velocity_jump", "shape_change")
_FIELD = {name: i for i, name in enumerate(STATE_FIELDS)}


def state_code(states: np.ndarray, code: str) -> np.ndarray:
    """(..., NUM_FIELDS * bodies) simulator states -> (..., D) codes, per body: x, y, box; with ``motion`` also vx,
    vy; with ``pose`` also the cosine and sine of the angle times the body's symmetry order."""
    parts = []
    for body in range(NUM_BODIES):
        field = states[..., NUM_FIELDS * body:NUM_FIELDS * (body + 1)]
        box = field[..., _FIELD["box"]]
        parts += [field[..., _FIELD["x"]], field[..., _FIELD["y"]], box]
        if code == "motion":
            parts += [field[..., _FIELD["vx"]], field[..., _FIELD["vy"]]]
        if code == "pose":
            turn = np.where(box > 0.5, SHAPE_SYMMETRY["box"], SHAPE_SYMMETRY["ball"]) * field[..., _FIELD["angle"]]
            parts += [np.cos(turn), np.sin(turn)]
    return np.stack(parts, axis=-1).astype(np.float32)


@dataclass
class StateModel:
    """A predictor of standardised true-state codes."""

    predictor: torch.nn.Module
    code: str
    mean: np.ndarray
    std: np.ndarray
    history: int

    def residuals(self, states: np.ndarray, actions: np.ndarray, horizons: int, copy_last: bool = False) -> np.ndarray:
        """(N, horizons, L, D) residuals of clips' codes (states (N, L, S)), as the protocol computes them."""
        z = torch.from_numpy((state_code(states, self.code) - self.mean) / self.std)
        return code_residuals(z, actions, None if copy_last else self.predictor.rollout, self.history, horizons, 1,
                              states.shape[1])


def train_predictor(data: Path, code: str, steps: int, seed: int, predictor_name: str = "transformer",
                    precision: str | None = None, batch_size: int | None = None,
                    lr: float | None = None) -> tuple[StateModel, dict[str, Any]]:
    """The preset's predictor (or `predictor_name` at its width and depth), trained on standardised true-state codes
    of the data's training episodes, in the preset's precision, batch size and learning rate unless given."""
    preset = load_preset("physics")
    train = preset.train.replace(precision=precision or preset.train.precision,
                                 batch_size=batch_size or preset.train.batch_size, lr=lr or preset.train.lr)
    schedule = train.replace(steps=steps)
    experience = open_dataset(data)
    codes = state_code(np.asarray(experience.state), code)
    mean, std = codes.mean(axis=0), codes.std(axis=0) + 1e-6
    codes = torch.from_numpy((codes - mean) / std)
    actions = torch.from_numpy(np.asarray(experience.action, np.float32))
    history, length = preset.model.history, preset.model.history + train.future
    train_eps, val_eps = split_episodes(experience.num_episodes, train.val_fraction, train.seed)
    rows, val_rows = (torch.from_numpy(WindowDataset(experience, history, train.future, 1, eps).first_rows)
                      for eps in (train_eps, val_eps))
    offsets = torch.arange(length)
    config = preset.model.replace(latent_dim=codes.shape[1], action_dim=actions.shape[1], cnn_pooled_dims=0,
                                  predictor=predictor_name)
    torch.manual_seed(seed)
    predictor = build_predictor(config)
    optimizer = torch.optim.AdamW(predictor.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    sampler = WindowSampler(len(rows), train.batch_size, train.hard_fraction, seed)
    precision = resolve_precision(train.precision, torch.device("cpu"))  # the preset's: bf16 where it is fast
    began, losses = time.time(), []
    for step in tqdm(range(steps), desc=f"train on {code}", dynamic_ncols=True):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(schedule, step)
        drawn = sampler.draw()
        frames = rows[drawn][:, None] + offsets  # (B, L) dataset rows
        z, act = codes[frames], actions[frames[:, :-1]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            z_pred = predictor.rollout(z[:, :history], act[:, history - 1:])
        loss = prediction_loss(z_pred.float(), z[:, history:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(predictor.parameters(), train.grad_clip)
        optimizer.step()
        sampler.update(drawn, (z_pred.detach() - z[:, history:]).pow(2).mean(dim=(1, 2)))
        losses.append(loss.item())
    predictor.eval()
    seconds = time.time() - began
    with torch.no_grad():  # open-loop loss on windows of held-out episodes, and that of copying the last code
        frames = val_rows[torch.randperm(len(val_rows), generator=torch.Generator().manual_seed(seed))[:2048]]
        z = codes[frames[:, None] + offsets]
        z_pred = predictor.rollout(z[:, :history], actions[frames[:, None] + offsets[:-1]][:, history - 1:])
        val_loss = prediction_loss(z_pred, z[:, history:]).item()
        copy_last = prediction_loss(z[:, history - 1:history].expand_as(z_pred), z[:, history:]).item()
    return StateModel(predictor, code, mean, std, history), {
        "train_s": seconds, "final_loss": float(np.mean(losses[-100:])), "val_loss": val_loss,
        "val_copy_last_loss": copy_last, "latent_dim": int(codes.shape[1]), "precision": precision}


def score(model: StateModel, pair_seed: int, clips: int, violations: tuple[str, ...]) -> dict[str, Any]:
    """AUROC of peak surprise per type on the pairs from `pair_seed`, calibrated as the protocol calibrates;
    also with copy-last on the same code (the change alone)."""
    config = SurpriseConfig(clips_per_violation=clips, seed=pair_seed)
    calibration = [p for pairs in calibration_pairs(config, 64) for p in pairs]
    possible = np.stack([p.possible_state for p in calibration])
    played = np.stack([p.actions for p in calibration])
    scales = {copy_last: SurpriseScale(model.residuals(possible, played, config.horizons, copy_last), config.scale,
                                       config.shrinkage) for copy_last in (False, True)}
    out = {}
    for name in tqdm(violations, desc=f"surprise, seed {pair_seed}", dynamic_ncols=True):
        pairs = scored_pairs(name, config, 64)
        actions = np.stack([p.actions for p in pairs])
        twins = [np.stack([getattr(p, f"{twin}_state") for p in pairs]) for twin in ("possible", "impossible")]
        out[name] = {"pairs": len(pairs)}
        for kind, copy_last in (("model", False), ("copy_last", True)):
            peaks = [np.nanmax(scales[copy_last](model.residuals(states, actions, config.horizons, copy_last)), axis=1)
                     for states in twins]
            out[name][kind] = separation(*peaks)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", type=Path, required=True,
                        help="the physics preset's data (`ami collect --preset physics`)")
    parser.add_argument("--codes", default=",".join(CODES), help=f"comma-separated codes: {', '.join(CODES)}")
    parser.add_argument("--steps", type=int, default=5000, help="training steps (the preset's 5,000)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--predictor", default="transformer", choices=PREDICTORS.names(),
                        help="the predictor (the preset's transformer; its width and depth either way)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per step (default: the preset's 128)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's 0.002)")
    parser.add_argument("--precision", default=None, choices=("fp32", "bf16"),
                        help="training precision (default: the preset's, bf16 where the CPU runs it fast)")
    parser.add_argument("--clips", type=int, default=100, help="pairs per violation type")
    parser.add_argument("--pair-seeds", default=f"{TUNING_SEED},{SURPRISE_SEED}",
                        help="first seeds of the pairs scored (tuning 7000000, test 3000000)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "state-ceiling.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    codes = [c.strip() for c in args.codes.split(",") if c.strip()]
    unknown = sorted(set(codes) - set(CODES))
    if unknown:
        parser.error(f"unknown codes {unknown}; choose from {', '.join(CODES)}")
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    manifest = args.data / "manifest.json"
    if not manifest.is_file():
        parser.error(f"{args.data} holds no dataset: make one with `ami collect --preset physics --out {args.data}`")
    manifest = json.loads(manifest.read_text())
    world, episodes = manifest.get("world"), manifest.get("episodes")
    if world != PHYSICS_WORLD:
        parser.error(f"{args.data} holds {world} data, but the state codes are the physics world's: "
                     f"make its data with `ami collect --preset physics --out DIR`")
    pair_seeds = [int(s) for s in args.pair_seeds.split(",")]

    def section(code: str) -> dict[str, Any]:
        model, trained = train_predictor(args.data, code, args.steps, args.seed, args.predictor, args.precision,
                                         args.batch_size, args.lr)
        return {**trained, "pairs": {str(s): score(model, s, args.clips, SCORED) for s in pair_seeds}}

    settings = {"data": str(args.data.resolve()), "steps": args.steps, "seed": args.seed, "clips": args.clips,
                "pair_seeds": pair_seeds, "violations": list(SCORED), "preset": "physics",
                "predictor": args.predictor, "precision": args.precision or "preset", "episodes": episodes,
                "batch_size": args.batch_size or "preset", "lr": args.lr or "preset"}
    # One entry per code, seed, predictor, precision, schedule, batch, lr and data size: other runs' figures are kept.
    suffix = ("" if args.predictor == "transformer" else f"-{args.predictor}") + \
        (f"-{args.precision}" if args.precision else "") + ("" if args.steps == 5000 else f"-{args.steps}steps") + \
        (f"-batch{args.batch_size}" if args.batch_size else "") + (f"-lr{args.lr:g}" if args.lr else "") + \
        ("" if episodes == load_preset("physics").collect.episodes else f"-{episodes}episodes")
    names = {f"{c}-seed{args.seed}{suffix}": c for c in codes}
    results = run_sections(list(names), {name: (lambda c=c: section(c)) for name, c in names.items()},
                           lambda name: {**settings, "code": names[name]}, args.out)
    rows = []
    for name in names:
        for seed, figures in results[name]["pairs"].items():
            rows.append((name, seed, *(f"{figures[v]['model']['auroc']:.3f} ({figures[v]['copy_last']['auroc']:.3f})"
                                       for v in SCORED)))
    print_table(rows, ("code", "pairs from", *(f"{v} (copy-last)" for v in SCORED)))
    return results


if __name__ == "__main__":
    main()
