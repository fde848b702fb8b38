"""Animated GIFs: an episode (what the agent sees beside its goal), or any sequence of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save_episode_gif(frames: list[np.ndarray], goal: np.ndarray, out: str | Path, scale: int = 4,
                     fps: int = 20) -> Path:
    """frames: (H, W, 3) uint8 each; writes [observation | goal] side by side, upscaled."""
    gap = np.full((goal.shape[0], 2, 3), 255, dtype=np.uint8)
    return save_gif([np.concatenate([frame, gap, goal], axis=1) for frame in frames], out, scale, fps)


def save_gif(frames: list[np.ndarray], out: str | Path, scale: int = 3, fps: int = 4) -> Path:
    """Frames uint8 (H, W, 3), upscaled by `scale`, as a looping GIF."""
    if not frames:
        raise ValueError("no frames to save")
    images = [Image.fromarray(f.repeat(scale, axis=0).repeat(scale, axis=1)) for f in frames]
    out = Path(out)
    images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return out
