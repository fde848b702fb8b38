"""TwoRoom: a point agent in two rooms joined by a door, observed as an RGB image.

World coordinates: the arena is the unit square [0, 1]², x to the right, y up.
Images put y = 1 on row 0 (the top), so the picture looks like the plot of the arena.
A vertical wall at x = 0.5 splits the arena into the left room (room 0, x < 0.5)
and the right room (room 1, x >= 0.5); the only way across is the door.

Collisions treat the agent as its bounding square, so the set of free centre
positions is the arena shrunk by the radius minus one axis-aligned slab (the wall
grown by the radius) that is open over the door. The slab (0.1 wide) is four steps
wide, so no step can tunnel through it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from openami.worlds.point import PointWorld

ARENA_WIDTH = 1.0
"""Side of the square arena, in world units."""
WALL_X = 0.5
"""Centre line of the wall between the rooms."""
WALL_HALF_THICKNESS = 0.02
"""Half the wall thickness (the wall is 0.04 thick)."""
DOOR_Y = 0.5
"""Centre of the door (the gap in the wall)."""
DOOR_HALF_HEIGHT = 0.08
"""Half the door height (the gap is 0.16 high)."""
AGENT_RADIUS = 0.03
"""Radius of the agent's disk."""
MAX_STEP = 0.025
"""Largest move per axis in one step (action 1.0): a room is ~20 steps across."""


def _f32(value: float) -> float:
    """Round to the nearest float32, kept as a Python float."""
    return float(np.float32(value))


# Bounds on the agent's centre. They are float32 numbers and the position is rounded to
# float32 after every move: rounding is monotonic, so a position inside the bounds stays
# inside, and info["state"] (float32) is the exact position, valid for reset(options=...).
_LO = _f32(AGENT_RADIUS)
_HI = _f32(ARENA_WIDTH - AGENT_RADIUS)
_SLAB_LEFT = _f32(WALL_X - WALL_HALF_THICKNESS - AGENT_RADIUS)  # centre may touch, not pass
_SLAB_RIGHT = _f32(WALL_X + WALL_HALF_THICKNESS + AGENT_RADIUS)
_DOOR_LO = _f32(DOOR_Y - DOOR_HALF_HEIGHT + AGENT_RADIUS)  # centre range inside the door
_DOOR_HI = _f32(DOOR_Y + DOOR_HALF_HEIGHT - AGENT_RADIUS)

# Colours (RGB). The rooms have different floor tints so the room shows in the image.
_FLOOR_LEFT = np.array([236, 226, 204], dtype=np.float32)
_FLOOR_RIGHT = np.array([206, 222, 238], dtype=np.float32)
_WALL = np.array([64, 64, 76], dtype=np.float32)

_SUPERSAMPLE = 4  # background anti-aliasing, paid once per env


def _background(size: int) -> np.ndarray:
    """The arena without the agent, anti-aliased by supersampling: uint8[size, size, 3]."""
    n = size * _SUPERSAMPLE
    centres = (np.arange(n) + 0.5) / n * ARENA_WIDTH
    x = centres[None, :]
    y = ARENA_WIDTH - centres[:, None]  # row 0 is the top of the arena
    wall = (np.abs(x - WALL_X) < WALL_HALF_THICKNESS) & (np.abs(y - DOOR_Y) > DOOR_HALF_HEIGHT)
    image = np.where((x < WALL_X)[..., None], _FLOOR_LEFT, _FLOOR_RIGHT)
    image = np.where(wall[..., None], _WALL, image)
    image = image.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.rint(image).astype(np.uint8)


class TwoRoomEnv(PointWorld):
    """Two rooms and a door; actions are 2-D velocities, observations RGB images.

    Reward-free and never terminating: the caller bounds episodes.
    ``info["state"]`` is the agent's position (float32[2]), ``info["room"]`` its room.
    """

    arena_width: float = ARENA_WIDTH
    max_step: float = MAX_STEP

    def __init__(self, render_mode: str | None = None, size: int = 64) -> None:
        self._setup(render_mode, size, 8, _background, AGENT_RADIUS)
        self._x = 0.25
        self._y = 0.5

    # ---- geometry -------------------------------------------------------------

    @staticmethod
    def is_free(position: Any) -> bool:
        """Whether the agent's centre may be at ``position`` (x, y)."""
        x, y = (float(v) for v in np.asarray(position, dtype=np.float64).reshape(2))
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        if not (_LO <= x <= _HI and _LO <= y <= _HI):
            return False
        in_slab = _SLAB_LEFT < x < _SLAB_RIGHT
        return not in_slab or _DOOR_LO <= y <= _DOOR_HI

    @staticmethod
    def room_of(position: Any) -> int:
        """0 for the left room (x < 0.5), 1 for the right room."""
        return int(float(np.asarray(position).reshape(2)[0]) >= WALL_X)

    @staticmethod
    def sample_free_position(rng: np.random.Generator, room: int | None = None) -> np.ndarray:
        """A uniform free position (float32[2]), in ``room`` if given, never in the doorway."""
        if room is None:
            room = int(rng.integers(2))  # both rooms have the same free area
        if room not in (0, 1):
            raise ValueError(f"room must be 0 (left), 1 (right) or None, got {room!r}")
        x_lo, x_hi = (_LO, _SLAB_LEFT) if room == 0 else (_SLAB_RIGHT, _HI)
        position = np.array([rng.uniform(x_lo, x_hi), rng.uniform(_LO, _HI)])
        return position.astype(np.float32)

    def _move(self, dx: float, dy: float) -> None:
        """Move x then y, so that a blocked axis does not stop the other (sliding)."""
        x = min(max(self._x + dx, _LO), _HI)
        if _SLAB_LEFT < x < _SLAB_RIGHT and not (_DOOR_LO <= self._y <= _DOOR_HI):
            x = _SLAB_LEFT if self._x <= _SLAB_LEFT else _SLAB_RIGHT
        y = min(max(self._y + dy, _LO), _HI)
        if _SLAB_LEFT < x < _SLAB_RIGHT:  # inside the doorway: its jambs bound y
            y = min(max(y, _DOOR_LO), _DOOR_HI)
        self._x, self._y = _f32(x), _f32(y)

    def _not_free(self, state: Any) -> str:
        return (f"reset state {state!r} is not a free position: it must be (x, y) inside "
                f"[{_LO:.3f}, {_HI:.3f}]² and not in the wall (use sample_free_position or is_free)")
