"""Frozen embeddings of stored frames, for probes, surprise and open-loop error."""

from __future__ import annotations

import numpy as np
import torch

from openami.models import WorldModel


@torch.no_grad()
def encode_frames(model: WorldModel, pixels: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """pixels uint8 (N, H, W, C) -> float32 embeddings (N, D), in eval mode, in batches."""
    if pixels.ndim != 4 or pixels.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (N, H, W, C), got {pixels.dtype} {pixels.shape}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(pixels), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(pixels[start:start + batch_size])).to(device)
        z = model.encode(chunk.permute(0, 3, 1, 2).unsqueeze(1))  # (B, 1, D)
        out.append(z[:, 0].float().cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, model.config.latent_dim), np.float32)
    return np.concatenate(out)


def previous_rows(episode_offset: np.ndarray, episode_length: np.ndarray, episodes: np.ndarray,
                  stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the chosen episodes that have a frame `stride` steps earlier in the same episode.

    Returns (rows, earlier rows), both int64 and aligned.
    """
    rows, earlier = [], []
    for e in np.asarray(episodes, np.int64):
        start, length = int(episode_offset[e]), int(episode_length[e])
        if length > stride:
            r = np.arange(start + stride, start + length, dtype=np.int64)
            rows.append(r)
            earlier.append(r - stride)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(earlier)
