"""What the point-agent worlds (TwoRoom, Maze) share: the Gymnasium API around a disk that moves.

A subclass gives the geometry (``is_free``, ``room_of``, ``sample_free_position``, ``_move``),
its ``max_step`` and, in ``__init__``, the empty image and the agent's sprite via ``_setup``.
World coordinates are the square [0, arena_width]², x to the right, y up; images put the top
of the arena on row 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from openami.worlds.sprite import DiskSprite

AGENT_COLOUR = np.array([214, 40, 40], dtype=np.float32)


class PointWorld(gymnasium.Env):
    """A point agent whose actions are 2-D velocities and whose observations are RGB images.

    Reward-free and never terminating: the caller bounds episodes. ``info["state"]`` is the
    agent's position (float32[2]), ``info["room"]`` its room.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    arena_width: float = 1.0
    max_step: float
    """Largest move per axis in one step (action 1.0)."""
    position_goals: bool = True
    """Starts and goals can be given as agent positions (x, y): `ami plan --start/--goal`."""

    def _setup(self, render_mode: str | None, size: int, min_size: int,
               background: Callable[[int], np.ndarray], agent_radius: float) -> None:
        """Check the arguments, then draw the empty world (``background(size)``) and make the sprite."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None")
        if not isinstance(size, (int, np.integer)) or size < min_size:
            raise ValueError(f"size must be an integer >= {min_size} (pixels per side), got {size!r}")
        self.render_mode, self.size = render_mode, int(size)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self._background = background(self.size)
        self._sprite = DiskSprite(agent_radius / self.arena_width * self.size, AGENT_COLOUR)
        self._frame: np.ndarray | None = None

    # ---- geometry, given by each world ----------------------------------------

    def is_free(self, position: Any) -> bool:
        raise NotImplementedError

    def room_of(self, position: Any) -> int:
        raise NotImplementedError

    def sample_free_position(self, rng: np.random.Generator, room: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def _move(self, dx: float, dy: float) -> None:
        raise NotImplementedError

    # ---- rendering ------------------------------------------------------------

    def empty_image(self) -> np.ndarray:
        """The world without the agent: uint8[H, W, 3]."""
        return self._background.copy()

    def render_state(self, state: Any) -> np.ndarray:
        """The observation at position ``state`` (x, y), without touching the env: uint8[H, W, 3]."""
        x, y = (float(v) for v in np.asarray(state, dtype=np.float64).reshape(2))
        return self._draw(x, y)

    def _draw(self, x: float, y: float) -> np.ndarray:
        scale = self.size / self.arena_width
        return self._sprite.draw(self._background, x * scale, (self.arena_width - y) * scale)

    def render(self) -> np.ndarray | None:
        """The current frame (the same image as the last observation)."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._frame is None:
            self._frame = self._draw(self._x, self._y)
        return self._frame

    # ---- Gymnasium API --------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        state = np.array([self._x, self._y], dtype=np.float32)
        return {"state": state, "room": self.room_of(state)}

    def _not_free(self, state: Any) -> str:
        """Why a reset state was refused, for the error message."""
        return f"reset state {state!r} is not a free position (use sample_free_position or is_free)"

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start at a uniform free position, or at ``options["state"]`` = (x, y)."""
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"state"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'state'")
        if "state" in options:
            position = np.asarray(options["state"], dtype=np.float32)
            if position.shape != (2,) or not self.is_free(position):
                raise ValueError(self._not_free(options["state"]))
        else:
            position = self.sample_free_position(self.np_random)
        self._x, self._y = float(position[0]), float(position[1])
        self._frame = self._draw(self._x, self._y)
        return self._frame, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move by ``clip(action, -1, 1) * max_step`` per axis; reward is always 0."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {a.shape}")
        ax, ay = float(a[0]), float(a[1])
        if not (math.isfinite(ax) and math.isfinite(ay)):
            raise ValueError(f"action must be finite, got {action!r}")
        self._move(min(max(ax, -1.0), 1.0) * self.max_step, min(max(ay, -1.0), 1.0) * self.max_step)
        self._frame = self._draw(self._x, self._y)
        return self._frame, 0.0, False, False, self._info()
