"""PushT: a round pusher and a T-shaped block on a table, seen from above.

The task of Diffusion Policy, DINO-WM and LeWorldModel, rebuilt here with pymunk. World
coordinates: the table is [0, 512]², x to the right, y up; images put y = 512 on row 0. The
pusher is a heavy disk driven at the commanded velocity: what it touches, it pushes, and it
stalls against a block jammed at a wall (a kinematic pusher, of infinite mass, would squeeze the
block through the wall). The table has no friction model but total damping (pymunk's
``space.damping = 0``): the block moves only while it is pushed (quasi-static pushing, as
in the original task), so its motion is set by contact alone. The block's mass is spread
evenly over its area, so it turns about the centroid that the state reports.

``info["state"]`` is ``(pusher x, pusher y, pusher vx, pusher vy, block x, block y, block
angle)``: the block's position is its centroid, its angle in radians, wrapped to (-π, π].
Factors of variation (constructor arguments) change how the world looks and how big things
are, for out-of-distribution checks: ``block_colour``, ``pusher_colour``, ``background``,
``block_scale`` (the T's size) and ``pusher_radius``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
import pymunk
from gymnasium import spaces
from PIL import Image, ImageDraw

from openami.worlds.checks import action_array, check_render_args, rgb, state_option, wrap_angle

TABLE = 512.0
"""Side of the square table, in world units (the original task's pixels)."""
DT = 0.1
"""Simulated seconds per env step (10 steps per second, the original task's control rate)."""
SUBSTEPS = 10
"""pymunk steps per env step: the pusher moves at most 3.6 units per substep (diagonally), far
under the block's 30-unit thickness, so it never tunnels through the block."""
MAX_STEP = 25.0
"""Pusher travel per step at full action (units): the table is about 20 steps across."""
PUSHER_RADIUS = 15.0
"""Radius of the pusher (the original task's)."""
BAR = (120.0, 30.0)
"""Width and height of the T's bar (the original task's proportions)."""
STEM = (30.0, 90.0)
"""Width and height of the T's stem, under the bar's middle."""
BLOCK_MASS = 1.0
PUSHER_MASS = 20.0
"""Heavy against the block, so contacts barely slow the pusher, but finite, so a wall stops both."""
FRICTION = 1.0
"""Friction between pusher and block, so a push off the centre turns the block."""
BLOCK_COLOUR = (119, 136, 153)
"""RGB of the block (slate grey, as in the original task)."""
PUSHER_COLOUR = (65, 105, 225)
"""RGB of the pusher (royal blue)."""
BACKGROUND = (238, 236, 228)
"""RGB of the table."""
STATE_FIELDS = ("pusher_x", "pusher_y", "pusher_vx", "pusher_vy", "block_x", "block_y", "block_angle")
"""Fields of ``info["state"]``."""
POSITION_TOLERANCE = 20.0
"""Success: pusher and block positions within this distance of the goal's, as one 4-D norm (the PushT
test of DINO-WM and stable-worldmodel, which LeWorldModel reports)."""
ANGLE_TOLERANCE = math.pi / 9
"""Success: the block's angle within this of the goal's (20°)."""

_SUPERSAMPLE = 3  # draw at 3x and box-filter down: anti-aliasing for the price of one resize
_WALL = 100.0  # walls this thick just outside the table keep the block and the pusher on it


def t_polygons(scale: float = 1.0) -> list[list[tuple[float, float]]]:
    """The T's two boxes (bar, stem) in the block's frame, centred on the T's centroid."""
    (bw, bh), (sw, sh) = BAR, STEM
    areas = (bw * bh, sw * sh)
    centroid_y = (areas[0] * bh / 2 - areas[1] * sh / 2) / sum(areas)  # bar on y in [0, bh], stem below
    boxes = [(-bw / 2, 0.0, bw / 2, bh), (-sw / 2, -sh, sw / 2, 0.0)]
    return [[(x * scale, (y - centroid_y) * scale) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
            for x0, y0, x1, y1 in boxes]


def block_errors(state: Any, goal: Any) -> tuple[float, float]:
    """(Position error in units, absolute angle error in radians) of the block between two states."""
    state, goal = np.asarray(state, np.float64), np.asarray(goal, np.float64)
    return float(np.hypot(*(state[4:6] - goal[4:6]))), float(abs(wrap_angle(state[6] - goal[6])))


def pose_errors(state: Any, goal: Any) -> tuple[float, float]:
    """(Norm of the pusher's and the block's position errors together, the block's angle error)."""
    state, goal = np.asarray(state, np.float64), np.asarray(goal, np.float64)
    together = np.r_[state[0:2] - goal[0:2], state[4:6] - goal[4:6]]
    return float(np.linalg.norm(together)), block_errors(state, goal)[1]


class PushTEnv(gymnasium.Env):
    """Push a T-shaped block around a table with a round pusher; actions are pusher velocities.

    Reward-free and never terminating: the caller bounds episodes. The action (clipped to
    [-1, 1]²) times MAX_STEP is the pusher's move in one step; the pusher stops at the table's edge.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    arena_width: float = TABLE
    factors = {"block_colour": "RGB of the T, e.g. 200,60,60", "pusher_colour": "RGB of the pusher",
               "background": "RGB of the table", "block_scale": "size of the T (1 = the original; 0.5-1.5)",
               "pusher_radius": "radius of the pusher in table units (15 = the original; 5-40)"}
    """Factors of variation: constructor arguments that `ami eval plan --vary NAME=VALUE` may shift."""

    def __init__(self, render_mode: str | None = None, size: int = 64, block_colour: Any = BLOCK_COLOUR,
                 pusher_colour: Any = PUSHER_COLOUR, background: Any = BACKGROUND, block_scale: float = 1.0,
                 pusher_radius: float = PUSHER_RADIUS) -> None:
        check_render_args(render_mode, size)
        if np.ndim(block_scale) or not 0.5 <= float(block_scale) <= 1.5:
            raise ValueError(f"block_scale must be in [0.5, 1.5] (1 is the original T), got {block_scale!r}")
        if np.ndim(pusher_radius) or not 5.0 <= float(pusher_radius) <= 40.0:
            raise ValueError(f"pusher_radius must be in [5, 40] table units, got {pusher_radius!r}")
        self.render_mode, self.size = render_mode, int(size)
        self.block_colour = rgb(block_colour, "block_colour")
        self.pusher_colour = rgb(pusher_colour, "pusher_colour")
        self.background = rgb(background, "background")
        self.block_scale, self.pusher_radius = float(block_scale), float(pusher_radius)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self._polygons = t_polygons(self.block_scale)
        self._scale = self.size * _SUPERSAMPLE / TABLE  # supersampled pixels per unit
        self._build(np.array([100.0, 100.0, 0.0, 0.0, TABLE / 2, TABLE / 2, 0.0]))
        self._frame: np.ndarray | None = None

    # ---- simulation -----------------------------------------------------------

    def _build(self, state: np.ndarray) -> None:
        """A fresh space (no contact memory, so a reset is fully determined by the state)."""
        space = pymunk.Space()
        space.damping = 0.0  # bodies keep no velocity between substeps: quasi-static pushing
        t, w = _WALL, TABLE
        for x0, y0, x1, y1 in [(-t, -t, w + t, 0), (-t, w, w + t, w + t), (-t, -t, 0, w + t), (w, -t, w + t, w + t)]:
            wall = pymunk.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            wall.friction = 0.0
            space.add(wall)
        block = pymunk.Body()  # mass and moment from the parts' density: the centre of mass is the centroid
        block.position, block.angle = (float(state[4]), float(state[5])), float(state[6])
        parts = [pymunk.Poly(block, p) for p in self._polygons]
        area = sum(part.area for part in parts)
        for part in parts:
            part.friction, part.density = FRICTION, BLOCK_MASS / area
        pusher = pymunk.Body(PUSHER_MASS, float("inf"))  # never turns
        pusher.position = (float(state[0]), float(state[1]))
        pusher.velocity_func = self._drive  # damping would zero a free body's velocity every substep
        disk = pymunk.Circle(pusher, self.pusher_radius)
        disk.friction = FRICTION
        space.add(block, *parts, pusher, disk)
        self._space, self._block, self._pusher = space, block, pusher
        self._command = (0.0, 0.0)
        self._pusher_velocity = np.asarray(state[2:4], np.float64)

    def _drive(self, body: pymunk.Body, gravity: Any, damping: float, dt: float) -> None:
        """The pusher's velocity update: the commanded velocity, which the contact solver then corrects."""
        body.velocity = self._command

    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        r = self.pusher_radius
        return min(max(x, r), TABLE - r), min(max(y, r), TABLE - r)

    @property
    def state(self) -> np.ndarray:
        """float32 (7,): ``STATE_FIELDS``."""
        b = self._block
        return np.array([*self._pusher.position, *self._pusher_velocity, *b.position, wrap_angle(b.angle)],
                        dtype=np.float32)

    def advance(self, action: Any) -> None:
        """Move the pusher by ``clip(action, -1, 1) * MAX_STEP`` over one step, pushing what it meets."""
        a = action_array(action)
        start = np.array(self._pusher.position)
        target = np.array(self._clamp(*(start + np.clip(a, -1.0, 1.0) * MAX_STEP)))
        self._command = tuple((target - start) / DT)
        self._pusher.velocity = self._command  # pymunk moves bodies before it updates their velocities
        for _ in range(SUBSTEPS):
            self._space.step(DT / SUBSTEPS)
        self._command = (0.0, 0.0)
        self._pusher.velocity = (0.0, 0.0)
        self._pusher_velocity = (np.array(self._pusher.position) - start) / DT

    # ---- rendering ------------------------------------------------------------

    def render_state(self, state: Any) -> np.ndarray:
        """The image of a state (7,), without touching the env: uint8 (H, W, 3)."""
        px, py, _, _, bx, by, angle = (float(v) for v in np.asarray(state, np.float64).reshape(7))
        k, n = self._scale, self.size * _SUPERSAMPLE
        image = Image.new("RGB", (n, n), self.background)
        draw = ImageDraw.Draw(image)
        c, s = math.cos(angle), math.sin(angle)
        for polygon in self._polygons:
            draw.polygon([((bx + c * u - s * v) * k, (TABLE - (by + s * u + c * v)) * k) for u, v in polygon],
                         fill=self.block_colour)
        r = self.pusher_radius * k
        cx, cy = px * k, (TABLE - py) * k
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=self.pusher_colour)
        return np.array(image.reduce(_SUPERSAMPLE))

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._frame is None:
            self._frame = self.render_state(self.state)
        return self._frame

    # ---- Gymnasium API --------------------------------------------------------

    def _overlaps(self, state: np.ndarray) -> bool:
        """Whether the pusher at state[0:2] would overlap the block at state[4:7]."""
        self._build(state)
        return min(part.point_query(tuple(state[:2])).distance for part in self._block.shapes) < self.pusher_radius

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """A random layout: the block well inside the table at any angle, the pusher anywhere clear of it."""
        margin = 100.0 * self.block_scale
        for _ in range(1000):
            block = [*rng.uniform(margin, TABLE - margin, 2), rng.uniform(-math.pi, math.pi)]
            pusher = rng.uniform(self.pusher_radius, TABLE - self.pusher_radius, 2)
            state = np.array([*pusher, 0.0, 0.0, *block])
            if not self._overlaps(state):
                return state
        raise RuntimeError("could not place the pusher clear of the block")  # pragma: no cover

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """A random layout, or ``options["state"]`` (7 numbers as in ``info["state"]``)."""
        super().reset(seed=seed)
        state = state_option(options, STATE_FIELDS)
        if state is None:
            state = self.sample_state(self.np_random)
        state[:2] = self._clamp(*state[:2])
        self._build(state)
        self._frame = self.render_state(self.state)
        return self._frame, {"state": self.state}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the pusher one step (DT); reward is always 0."""
        self.advance(action)
        self._frame = self.render_state(self.state)
        return self._frame, 0.0, False, False, {"state": self.state}
