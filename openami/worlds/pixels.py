"""Adapter that turns any Gymnasium env with rgb_array rendering into a pixel world."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from PIL import Image


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB frame to uint8[size, size, 3] (area average when the sides divide, else bilinear)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB(A) frame of shape (H, W, 3|4), got shape {frame.shape}")
    frame = frame[..., :3]
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(frame)
    if h % size == 0 and w % size == 0:
        blocks = frame.reshape(size, h // size, size, w // size, 3).mean(axis=(1, 3))
        return np.rint(blocks).astype(np.uint8)
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR))


class PixelObservation(gymnasium.Wrapper):
    """Observe the rendered frame, resized to size x size; keep the original observation as the state.

    ``info["state"]`` is the wrapped env's observation flattened to float32, so that probes and
    success checks see the true state. The action space must be a Box (planners sample continuous
    actions).
    """

    def __init__(self, env: gymnasium.Env, size: int = 64) -> None:
        super().__init__(env)
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        if not isinstance(env.action_space, spaces.Box):
            raise ValueError(
                f"{env_id} has a {type(env.action_space).__name__} action space; openami worlds need a "
                "continuous Box action space (pick an env with continuous actions, e.g. 'Pendulum-v1')"
            )
        if env.render_mode != "rgb_array":
            raise ValueError(f"{env_id} must be made with render_mode='rgb_array', got {env.render_mode!r}")
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self._state_space = env.observation_space

    def _pixels(self, obs: Any, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        frame = self.env.render()
        if frame is None:
            raise RuntimeError("the wrapped env's render() returned None in rgb_array mode")
        info = dict(info)
        info["state"] = np.asarray(spaces.flatten(self._state_space, obs), dtype=np.float32)
        return resize_frame(frame, self.size), info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._pixels(obs, info)

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        pixels, info = self._pixels(obs, info)
        return pixels, reward, terminated, truncated, info
