"""How readily each encoder architecture learns a world's quantities from pixels, with labels.

python benchmarks/encoder_readout.py --data DATA --preset pusht                 # cnn, vit-small, vit: 800 steps
python benchmarks/encoder_readout.py --data DATA --preset pusht --variants cnn cnn-instance --quantities block.angle

A capacity check apart from the JEPA objective: each variant of the preset's encoder is trained
from scratch, supervised, to output one quantity of the world's probe list (standardised), and
scored by R² on frames of held-out episodes. A quantity an encoder cannot learn with labels in a
few hundred steps is one that self-supervised training will hardly put in its embedding (PushT's
block angle: `ami eval probe` reads R² 0.00 from the trained preset's embedding). The converse does
not hold: `cnn-instance` reads that angle at R² 0.95 with labels, yet its JEPA embedding holds none of it.
In the physics world each body's shape (1 for a box, 0 for a ball) is read out too, as `<body>.shape`,
with the share of held-out frames whose shape it gets right; the JEPA embedding holds it only with
`train.episode_contrast_weight` (BENCHMARKS.md).
Writes benchmarks/results/encoder_readout.json (git commit, date, CPUs, torch, settings).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from provenance import ROOT, print_table, run_sections

from openami.data import open_dataset, split_episodes
from openami.evaluation.probe import quantities_for, score
from openami.models.encoders import build_encoder
from openami.presets import load_preset
from openami.worlds.physics import BODY_NAMES, NUM_FIELDS, STATE_FIELDS

VARIANTS: dict[str, dict[str, Any]] = {
    # the PushT and physics presets' CNN, and the same with each channel normalised on its own
    "cnn": {"encoder": "cnn", "cnn_stem": 4, "cnn_channels": [32, 64, 128], "cnn_norm": "layer"},
    "cnn-instance": {"encoder": "cnn", "cnn_stem": 4, "cnn_channels": [32, 64, 128], "cnn_norm": "instance"},
    "cnn-stem2": {"encoder": "cnn", "cnn_stem": 2, "cnn_channels": [32, 64, 128, 128], "cnn_norm": "layer"},
    "vit": {"encoder": "vit", "vit_patch": 8, "vit_width": 128, "vit_depth": 4, "vit_heads": 4},
    "vit-small": {"encoder": "vit", "vit_patch": 8, "vit_width": 64, "vit_depth": 2, "vit_heads": 4},
}


def frames(data: Path, every: int, seed: int,
           only: list[str] | None) -> tuple[np.ndarray, int, dict[str, np.ndarray], str]:
    """Every `every`-th frame of each episode, training episodes' first: (pixels, the number of training
    rows, static quantities by name, world id); the rows after the training ones are held-out episodes'."""
    experience = open_dataset(data)
    train_eps, test_eps = split_episodes(experience.num_episodes, 0.2, seed)
    starts, lengths = experience.episode_offset, experience.episode_length

    def rows(episodes: list[int]) -> np.ndarray:
        return np.concatenate([np.arange(starts[e], starts[e] + lengths[e], every) for e in episodes])

    train, test = rows(train_eps), rows(test_eps)
    needed = np.concatenate([train, test])
    world = experience.manifest["world"]
    quantities = {name: np.asarray(values, np.float32)[needed]
                  for name, (values, dynamic) in quantities_for(world, np.asarray(experience.state)).items()
                  if not dynamic and (not only or name in only)}  # one frame shows only static quantities
    if world == "openami/Physics-v0":  # shape is no probe target (the code held none); read here
        states, box = np.asarray(experience.state, np.float32)[needed], STATE_FIELDS.index("box")
        for i, body in enumerate(BODY_NAMES):
            if not only or f"{body}.shape" in only:
                quantities[f"{body}.shape"] = states[:, NUM_FIELDS * i + box, None]
    if not quantities:
        raise SystemExit(f"no static quantity named {only} in {world}'s probe list")
    pixels = np.asarray(experience.pixels[needed])
    return pixels, len(train), quantities, world


def readout(preset: str, data: Path, variants: list[str], quantities: list[str] | None, steps: int, batch_size: int,
            every: int, seed: int) -> dict[str, Any]:
    pixels, n_train, targets, world = frames(data, every, seed, quantities)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255)
    held_out = x[n_train:]
    model_config = load_preset(preset).model
    results: dict[str, Any] = {"world": world, "train_frames": n_train, "test_frames": len(held_out)}
    for variant in variants:
        for name, values in targets.items():
            y = torch.from_numpy((values - values[:n_train].mean(0)) / (values[:n_train].std(0) + 1e-8))
            torch.manual_seed(seed)
            # The output is the quantity itself, so the physics preset's position-free dimensions are left out.
            encoder = build_encoder(model_config.replace(latent_dim=y.shape[1], cnn_pooled_dims=0, **VARIANTS[variant]))
            optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
            generator = torch.Generator().manual_seed(seed)
            started = time.perf_counter()
            for _ in range(steps):
                batch = torch.randint(n_train, (batch_size,), generator=generator)
                loss = torch.nn.functional.mse_loss(encoder(x[batch]), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            seconds = time.perf_counter() - started
            # Batch statistics for BatchNorm, as in training: a few hundred steps leave its running
            # averages far from them, which would score the averages rather than the encoder.
            with torch.no_grad():
                predicted = torch.cat([encoder(held_out[i:i + 500]) for i in range(0, len(held_out), 500)])
            result = {**score(y[n_train:].numpy(), predicted.numpy()), "train_s": seconds}
            if name.endswith(".shape"):  # above or below the midpoint of the two standardised labels
                midpoint = float(y[:n_train].min() + y[:n_train].max()) / 2
                result["accuracy"] = float(((predicted > midpoint) == (y[n_train:] > midpoint)).float().mean())
            results.setdefault(variant, {})[name] = result
            print(f"  {variant:<10} {name:<20} R² {result['r2']:.3f} ({seconds:.0f} s)", flush=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset made by `ami collect`")
    parser.add_argument("--preset", default="pusht", help="preset whose encoder the variants start from")
    parser.add_argument("--variants", nargs="+", default=["cnn", "vit-small", "vit"], choices=list(VARIANTS))
    parser.add_argument("--quantities", nargs="+", help="names from the world's probe list (default: every static one)")
    parser.add_argument("--steps", type=int, default=800, help="supervised steps per encoder and quantity")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--every", type=int, default=4, help="use every N-th frame of each episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encoder_readout.json")
    args = parser.parse_args(argv)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    results = run_sections([args.preset], {args.preset: lambda: readout(
        args.preset, args.data, args.variants, args.quantities, args.steps, args.batch_size, args.every, args.seed)},
        lambda _: settings, args.out)
    r = results[args.preset]
    rows = [(variant, name, f"{q['r2']:.3f}", f"{q['accuracy']:.3f}" if "accuracy" in q else "",
             f"{q['train_s']:.0f} s") for variant in args.variants for name, q in r[variant].items()]
    print_table(rows, ("encoder", "quantity", "test R²", "accuracy", "training"))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
