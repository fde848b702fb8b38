"""Open-loop prediction: how far ahead the model's imagination stays close to what happens.

From `history` real embeddings, the predictor rolls out H steps under the real actions with no
further observation; the error at each step is compared with the copy-last baseline, which
predicts that nothing moves (z_{t+h} = z_t).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from openami.data import Experience, WindowDataset, split_episodes
from openami.models import WorldModel
from openami.training.config import RunConfig


def held_out_episodes(run_config: RunConfig, num_episodes: int) -> list[int]:
    """The episodes the run held out from training (all of them if it held out none)."""
    train = run_config.train
    if train.val_fraction <= 0 or num_episodes < 2:
        return list(range(num_episodes))
    return split_episodes(num_episodes, train.val_fraction, train.seed)[1]


@torch.no_grad()
def rollout_errors(model: WorldModel, experience: Experience, episodes: list[int], horizon: int, frameskip: int,
                   max_windows: int = 1024, seed: int = 0, batch_size: int = 256) -> dict[str, Any]:
    """Mean squared latent error per open-loop step 1..horizon, for the model and copy-last."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    history = model.config.history
    windows = WindowDataset(experience, history, horizon, frameskip, episodes)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(windows), min(max_windows, len(windows)), replace=False)
    model.eval()
    device = next(model.parameters()).device
    model_err = torch.zeros(horizon, dtype=torch.float64)
    copy_err = torch.zeros(horizon, dtype=torch.float64)
    spread = torch.zeros((), dtype=torch.float64)
    for start in range(0, len(picks), batch_size):
        items = [windows[int(i)] for i in picks[start:start + batch_size]]
        pixels = torch.stack([it["pixels"] for it in items]).to(device)
        actions = torch.stack([it["actions"] for it in items]).to(device)
        z = model.encode(pixels).double()  # (B, history + horizon, D)
        z_pred = model.rollout(z[:, :history].float(), actions[:, history - 1:]).double()  # (B, H, D)
        target = z[:, history:]
        model_err += ((z_pred - target) ** 2).mean(dim=2).sum(dim=0).cpu()
        copy_err += ((z[:, history - 1:history] - target) ** 2).mean(dim=2).sum(dim=0).cpu()
        spread += z.var(dim=0).mean().cpu() * len(items)
    n = len(picks)
    model_err, copy_err = (model_err / n).tolist(), (copy_err / n).tolist()
    return {"horizon": list(range(1, horizon + 1)), "model_mse": model_err, "copy_last_mse": copy_err,
            "ratio": [c / m if m > 0 else float("inf") for m, c in zip(model_err, copy_err, strict=True)],
            "latent_variance": float(spread / n), "windows": n, "episodes": len(episodes),
            "frameskip": frameskip, "history": history}


def format_rollout_table(result: dict[str, Any]) -> str:
    lines = [f"open-loop latent error over {result['windows']} windows of {result['episodes']} held-out episodes "
             f"(one step = {result['frameskip']} world steps; latent variance {result['latent_variance']:.4f})",
             f"  {'step':>4} {'model MSE':>10} {'copy-last MSE':>14} {'copy-last / model':>18}"]
    columns = (result["horizon"], result["model_mse"], result["copy_last_mse"], result["ratio"])
    for h, m, c, r in zip(*columns, strict=True):
        lines.append(f"  {h:>4} {m:>10.4f} {c:>14.4f} {r:>17.1f}x")
    return "\n".join(lines)


@torch.no_grad()
def imagined_frames(model: WorldModel, decoder: torch.nn.Module, experience: Experience, episodes: list[int],
                    horizon: int, frameskip: int, examples: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Frames of a GIF grid: per example a row [real | decoded real | decoded imagination], per step a frame.

    The imagination sees only the first `history` frames and then the real actions; the
    middle column, the decoder applied to the real frame's embedding, shows what the
    decoder can draw at best.
    """
    history = model.config.history
    windows = WindowDataset(experience, history, horizon, frameskip, episodes)
    picks = np.random.default_rng(seed).choice(len(windows), min(examples, len(windows)), replace=False)
    items = [windows[int(i)] for i in picks]
    model.eval()
    device = next(model.parameters()).device
    pixels = torch.stack([it["pixels"] for it in items]).to(device)  # (E, T, C, H, W)
    actions = torch.stack([it["actions"] for it in items]).to(device)
    z = model.encode(pixels)
    z_pred = model.rollout(z[:, :history], actions[:, history - 1:])
    imagined = torch.cat([z[:, :history], z_pred], dim=1)  # what the model believes at each step

    def draw(latents: torch.Tensor) -> np.ndarray:  # (E, T, D) -> uint8 (E, T, H, W, C)
        images = decoder(latents.flatten(0, 1)).clamp(0, 1).mul(255).round().byte()
        return images.view(*latents.shape[:2], *images.shape[1:]).permute(0, 1, 3, 4, 2).cpu().numpy()

    real = pixels.permute(0, 1, 3, 4, 2).cpu().numpy()
    columns = [real, draw(z), draw(imagined)]
    gap = 2
    frames = []
    for t in range(real.shape[1]):
        rows = []
        for e in range(len(items)):
            tiles = [np.pad(col[e, t], ((gap, gap), (gap, gap), (0, 0)), constant_values=255) for col in columns]
            rows.append(np.concatenate(tiles, axis=1))
        frames.append(np.concatenate(rows, axis=0))
    return frames
