"""Physics: three bodies (each a ball or a box) bouncing in a closed arena with a ledge, seen from the side.

World coordinates: the arena is the unit square [0, 1]², x to the right, y up, gravity
down. Images put y = 1 on row 0 (the top), like TwoRoom. Four thick walls close the arena
just outside the unit square; a grey ledge in the middle gives the bodies something to
bounce on and makes "passing through a wall" visible inside the frame.

Body 0 (red) is the one the action pushes; body 1 (blue) and body 2 (green) move only by
physics. Each body's shape (ball or box) is drawn at reset, independently of its colour, so
that colour does not tell shape. Balls carry a dark spoke so their rotation shows.

Besides the Gymnasium API the env has a small intervention API (``set_body_state``,
``set_visible``, ``set_kind``, ``set_colour``, ``ignore_collisions``) with which
:mod:`openami.worlds.violations` stages impossible events, and queries (``is_free``,
``path_clear``, ``clearance``, ``penetration``) to stage them where they are visible.
Rendering is a pure function of (state, visibility, colours): ``render_state`` (the state holds the shapes).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
import pymunk
from gymnasium import spaces
from PIL import Image, ImageDraw

DT = 0.05
"""Simulated seconds per env step (20 steps per second)."""
SUBSTEPS = 10
"""pymunk steps per env step: at MAX_SPEED a body moves 0.0125 per substep, far under the
ledge's thickness plus a body radius, so nothing tunnels, and bodies that hit each other
overlap by under 0.01 (half a pixel at 64x64) before they are pushed apart."""
GRAVITY = 2.0
"""Downward acceleration (arena/s²): a body dropped from the top lands in about 19 steps."""
DAMPING = 0.8
"""Fraction of velocity a body keeps per second (air drag), so bodies roll to rest."""
COLLISION_SLOP = 0.002
"""Overlap pymunk tolerates between touching shapes (0.13 px at 64x64)."""
BALL_RADIUS = 0.065
"""Radius of a ball (about 4 px at 64x64)."""
BOX_HALF_SIZE = 0.058
"""Half the side of a box: a box has about the area of a ball."""
BODY_MASS = 1.0
"""Mass of every body."""
ELASTICITY = 0.9
"""Restitution of a body; walls have 1.0 (pymunk multiplies the two)."""
FRICTION = 0.6
"""Friction of a body; walls have 0.8 (pymunk multiplies the two)."""
MAX_SPEED = 2.5
"""Speed cap (arena/s): at most 0.125 of the arena, 8 px at 64x64, per step."""
MAX_ANGULAR_SPEED = 30.0
"""Spin cap (rad/s): at most 1.5 rad per step, so a spoke's turn is not aliased."""
PUSH_DV = 0.3
"""Velocity change of body 0 from a full push (action component 1.0), in arena/s."""
INIT_SPEED = 1.0
"""Bound on each velocity component at reset."""
INIT_ANGULAR_SPEED = 3.0
"""Bound on the spin at reset (rad/s)."""
LEDGE_X = (0.35, 0.65)
"""Horizontal extent of the ledge."""
LEDGE_Y = 0.45
"""Height of the ledge's centre line."""
LEDGE_HALF_THICKNESS = 0.02
"""Half the ledge thickness (the ledge is 0.04 thick)."""

BODY_NAMES = ("red", "blue", "green")
"""Names of the bodies (their colours at reset), in state order."""
BOX_PROBABILITY = 0.5
"""Chance that a body is a box (else a ball), drawn independently per body at each seeded reset."""
BODY_COLOURS = ((214, 40, 40), (40, 90, 220), (40, 160, 60))
"""RGB colour of each body."""
SHAPE_SYMMETRY = {"ball": 1, "box": 4}
"""Rotational symmetry order: a box looks the same every 90°, so only 4θ is observable.
(A ball's spoke makes its angle observable.)"""
STATE_FIELDS = ("x", "y", "vx", "vy", "angle", "box")
"""Per-body fields of ``info["state"]``; the angle (rad) is unwrapped, as pymunk gives it; ``box``
is 1.0 for a box and 0.0 for a ball."""
NUM_FIELDS = len(STATE_FIELDS)
"""Numbers per body in a state."""
NUM_BODIES = len(BODY_NAMES)
"""Number of bodies; a state has NUM_FIELDS * NUM_BODIES numbers."""
BACKGROUND_COLOUR = (238, 236, 228)
"""RGB of the empty arena (light, so the saturated bodies stand out)."""
LEDGE_COLOUR = (112, 112, 120)
"""RGB of the ledge."""

_SUPERSAMPLE = 3  # draw at 3x and box-filter down: anti-aliasing for the price of one resize
_SPOKE_SHADE = 0.4  # a spoke is its ball's colour darkened to 40 %
_WALL, _LEDGE = "wall", "ledge"
_WALL_TYPE, _LEDGE_TYPE = 1000, 1001  # pymunk collision types; body i uses i
_WALL_BIT, _LEDGE_BIT = 1, 2  # collision-filter categories; body i uses 4 << i
_THICK = 1.0  # walls are this thick so that no body can tunnel out
_UNIT_SQUARE = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))  # a box's corners / BOX_HALF_SIZE


def _body_bit(index: int) -> int:
    return 4 << index


def bounding_radius(kind: str) -> float:
    """Radius of the smallest circle around a shape of this kind, centred on its body."""
    return BALL_RADIUS if kind == "ball" else BOX_HALF_SIZE * math.sqrt(2.0)


def kinds_of(state: Any) -> tuple[str, ...]:
    """The shape of each body ('ball' or 'box') from a state's ``box`` fields."""
    rows = np.asarray(state, dtype=np.float64).reshape(NUM_BODIES, NUM_FIELDS)
    return tuple("box" if b >= 0.5 else "ball" for b in rows[:, -1])


def physics_quantities(states: np.ndarray) -> dict[str, tuple[np.ndarray, bool]]:
    """Probe targets from states (N, NUM_FIELDS * num_bodies): name -> (float32 (N, 2), dynamic).

    ``dynamic`` marks quantities that one frame cannot show (velocities need two). Angles
    are encoded as (cos kθ, sin kθ) with k the symmetry order of the row's shape (read from
    its ``box`` field), so that a box's target does not change under a 90° turn that leaves
    its image unchanged.
    """
    states = np.asarray(states, dtype=np.float64)
    width = NUM_FIELDS * NUM_BODIES
    if states.ndim != 2 or states.shape[1] != width:
        raise ValueError(f"states must have shape (N, {width}) ({NUM_BODIES} bodies), got {states.shape}")
    out: dict[str, tuple[np.ndarray, bool]] = {}
    for i, name in enumerate(BODY_NAMES):
        x, y, vx, vy, angle, box = states[:, NUM_FIELDS * i : NUM_FIELDS * (i + 1)].T
        k = np.where(box >= 0.5, SHAPE_SYMMETRY["box"], SHAPE_SYMMETRY["ball"])
        out[f"{name}.position"] = (np.stack([x, y], 1).astype(np.float32), False)
        out[f"{name}.velocity"] = (np.stack([vx, vy], 1).astype(np.float32), True)
        out[f"{name}.angle"] = (np.stack([np.cos(k * angle), np.sin(k * angle)], 1).astype(np.float32), False)
    return out


def _ledge_gap(x: float, y: float) -> float:
    """Distance from a point to the ledge's rectangle (0 inside)."""
    dx = max(LEDGE_X[0] - x, 0.0, x - LEDGE_X[1])
    dy = max(abs(y - LEDGE_Y) - LEDGE_HALF_THICKNESS, 0.0)
    return math.hypot(dx, dy)


def _sink(a: pymunk.Shape, b: pymunk.Shape) -> float:
    """How deep ``a`` reaches into ``b``: exact for a circle ``a``, by corners for a polygon."""
    if isinstance(a, pymunk.Circle):
        return a.radius - b.point_query(a.body.position).distance
    return max(-b.point_query(a.body.local_to_world(v)).distance for v in a.get_vertices())


class PhysicsEnv(gymnasium.Env):
    """Rigid bodies under gravity; the action pushes body 0; observations are RGB images.

    Reward-free and never terminating: the caller bounds episodes. ``info["state"]`` is
    float32 (NUM_FIELDS * num_bodies,) laid out as ``STATE_FIELDS`` per body in ``BODY_NAMES`` order;
    ``info["visible"]`` is bool (num_bodies,). A hidden body keeps its last state.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    num_bodies: int = NUM_BODIES

    def __init__(self, render_mode: str | None = None, size: int = 64) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None")
        if not isinstance(size, (int, np.integer)) or size < 16:
            raise ValueError(f"size must be an integer >= 16 (pixels per side), got {size!r}")
        self.render_mode = render_mode
        self.size = int(size)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)

        self._scale = self.size * _SUPERSAMPLE  # supersampled pixels per arena unit
        self._background = Image.new("RGB", (self._scale, self._scale), BACKGROUND_COLOUR)
        ledge = (LEDGE_X[0], LEDGE_Y + LEDGE_HALF_THICKNESS, LEDGE_X[1], LEDGE_Y - LEDGE_HALF_THICKNESS)
        ImageDraw.Draw(self._background).rectangle(self._to_pixels(ledge), fill=LEDGE_COLOUR)

        self.contacts: frozenset[tuple[int, int | str]] = frozenset()
        """(body, other) pairs that touched during the last step; other is a body index, 'ledge' or 'wall'."""
        self.hits: frozenset[tuple[int, int | str]] = frozenset()
        """The pairs among ``contacts`` that started touching during the last step."""
        start = np.zeros((NUM_BODIES, NUM_FIELDS))
        start[:, 0], start[:, 1] = (0.2, 0.5, 0.8), 0.8  # all balls until the first reset
        self._build(start, np.zeros(NUM_BODIES), np.ones(NUM_BODIES, bool))
        self._frame: np.ndarray | None = None

    # ---- simulation -----------------------------------------------------------

    def _build(self, state: np.ndarray, spin: np.ndarray, visible: np.ndarray) -> None:
        """A fresh space (no contact memory, so a reset is fully determined by its inputs).

        ``state`` is (num_bodies, NUM_FIELDS); its ``box`` column gives the shapes."""
        space = pymunk.Space()
        space.gravity = (0.0, -GRAVITY)
        space.damping = DAMPING
        space.collision_slop = COLLISION_SLOP
        t = _THICK
        walls = [(-t, -t, 1 + t, 0), (-t, 1, 1 + t, 1 + t), (-t, -t, 0, 1 + t), (1, -t, 1 + t, 1 + t)]
        lo, hi = LEDGE_Y - LEDGE_HALF_THICKNESS, LEDGE_Y + LEDGE_HALF_THICKNESS
        for (x0, y0, x1, y1), kind in [*((w, _WALL) for w in walls), ((LEDGE_X[0], lo, LEDGE_X[1], hi), _LEDGE)]:
            shape = pymunk.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            shape.elasticity, shape.friction = 1.0, 0.8
            shape.collision_type = _WALL_TYPE if kind == _WALL else _LEDGE_TYPE
            shape.filter = pymunk.ShapeFilter(categories=_WALL_BIT if kind == _WALL else _LEDGE_BIT)
            space.add(shape)
        # One handler per pair of collision types, its pair as data: a callback then needs no
        # shape lookups, and begin/separate fire only when contact changes, not every substep.
        for i in range(NUM_BODIES):
            for other in (*range(i + 1, NUM_BODIES), _WALL, _LEDGE):
                kind = {_WALL: _WALL_TYPE, _LEDGE: _LEDGE_TYPE}.get(other, other)
                space.on_collision(i, kind, begin=self._on_begin, separate=self._on_separate, data=(i, other))
        self._space = space
        self._kinds = list(kinds_of(state))
        self._colours = [tuple(c) for c in BODY_COLOURS]
        self._visible = np.array(visible, dtype=bool)
        self._bodies: list[pymunk.Body] = []
        self._shapes: list[pymunk.Shape] = []
        for i in range(NUM_BODIES):
            body = pymunk.Body(BODY_MASS, 1.0)
            body.position = (float(state[i, 0]), float(state[i, 1]))
            body.velocity = (float(state[i, 2]), float(state[i, 3]))
            body.angle, body.angular_velocity = float(state[i, 4]), float(spin[i])
            self._bodies.append(body)
            self._shapes.append(self._make_shape(i, self._kinds[i], pymunk.ShapeFilter(categories=_body_bit(i))))
            if self._visible[i]:
                space.add(body, self._shapes[i])
        self.contacts, self.hits = frozenset(), frozenset()
        self._state: np.ndarray | None = None
        self._touching: set[tuple[int, int | str]] = set()  # pairs in contact now (i < j for two bodies)
        self._starting: set[tuple[int, int | str]] = set()  # pairs that began touching this step

    def _make_shape(self, index: int, kind: str, shape_filter: pymunk.ShapeFilter) -> pymunk.Shape:
        body = self._bodies[index]
        if kind == "ball":
            shape: pymunk.Shape = pymunk.Circle(body, BALL_RADIUS)
            body.moment = pymunk.moment_for_circle(BODY_MASS, 0.0, BALL_RADIUS)
        elif kind == "box":
            shape = pymunk.Poly.create_box(body, (2 * BOX_HALF_SIZE, 2 * BOX_HALF_SIZE))
            body.moment = pymunk.moment_for_box(BODY_MASS, (2 * BOX_HALF_SIZE, 2 * BOX_HALF_SIZE))
        else:
            raise ValueError(f"unknown shape {kind!r}; use 'ball' or 'box'")
        shape.elasticity, shape.friction = ELASTICITY, FRICTION
        shape.collision_type = index
        shape.filter = shape_filter
        return shape

    def _on_begin(self, arbiter: pymunk.Arbiter, space: pymunk.Space, pair: tuple[int, int | str]) -> None:
        self._touching.add(pair)
        self._starting.add(pair)

    def _on_separate(self, arbiter: pymunk.Arbiter, space: pymunk.Space, pair: tuple[int, int | str]) -> None:
        self._touching.discard(pair)

    @staticmethod
    def _both_ways(pairs: set[tuple[int, int | str]]) -> frozenset[tuple[int, int | str]]:
        return frozenset([*pairs, *((b, a) for a, b in pairs if isinstance(b, int))])

    def _cap_speeds(self, bodies: list[pymunk.Body]) -> None:
        for body in bodies:
            vx, vy = body.velocity
            speed = math.hypot(vx, vy)
            if speed > MAX_SPEED:
                body.velocity = (vx * MAX_SPEED / speed, vy * MAX_SPEED / speed)
            if abs(body.angular_velocity) > MAX_ANGULAR_SPEED:
                body.angular_velocity = math.copysign(MAX_ANGULAR_SPEED, body.angular_velocity)

    def advance(self, action: Any) -> None:
        """Push body 0 by ``clip(action, -1, 1) * PUSH_DV`` and simulate one step, without drawing."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {action!r}")
        ax, ay = (float(v) for v in np.clip(a, -1.0, 1.0) * PUSH_DV)
        if self._visible[0]:  # a hidden body cannot be pushed
            vx, vy = self._bodies[0].velocity
            self._bodies[0].velocity = (vx + ax, vy + ay)
            # Capping the push bounds the speed within the step (gravity adds only GRAVITY * DT);
            # capping after the step keeps the reported state within the cap.
            self._cap_speeds(self._bodies[:1])
        touching_before, self._starting = set(self._touching), set()
        for _ in range(SUBSTEPS):
            self._space.step(DT / SUBSTEPS)
        self._cap_speeds([b for b, v in zip(self._bodies, self._visible, strict=True) if v])
        self._state = None
        # A pair touched during the step if it touched at its start or started touching in it.
        self.contacts = self._both_ways(touching_before | self._starting)
        self.hits = self._both_ways(self._starting)
        self._frame = None

    # ---- interventions and queries --------------------------------------------

    @property
    def state(self) -> np.ndarray:
        """float32 (NUM_FIELDS * num_bodies,): ``STATE_FIELDS`` per body."""
        if self._state is None:  # cached: drawing and info both read it every step
            bodies = zip(self._bodies, self._kinds, strict=True)
            rows = [(*b.position, *b.velocity, b.angle, float(k == "box")) for b, k in bodies]
            self._state = np.asarray(rows, dtype=np.float32).reshape(-1)
        return self._state.copy()

    @property
    def visible(self) -> np.ndarray:
        return self._visible.copy()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    @property
    def colours(self) -> tuple[tuple[int, int, int], ...]:
        return tuple(self._colours)

    def set_body_state(
        self,
        index: int,
        position: Any = None,
        velocity: Any = None,
        angle: float | None = None,
    ) -> None:
        """Overwrite part of a body's state (an intervention: nothing checks it is physical).

        The shape (the state's ``box`` field) changes only through ``set_kind``."""
        body = self._bodies[index]
        if position is not None:
            body.position = tuple(float(v) for v in position)
        if velocity is not None:
            body.velocity = tuple(float(v) for v in velocity)
        if angle is not None:
            body.angle = float(angle)
        if self._visible[index]:
            self._space.reindex_shapes_for_body(body)
        self._frame, self._state = None, None

    def set_visible(self, index: int, visible: bool) -> None:
        """Add a body to the world or take it out (a hidden body is not simulated nor drawn)."""
        if bool(visible) != self._visible[index]:
            body, shape = self._bodies[index], self._shapes[index]
            (self._space.add if visible else self._space.remove)(body, shape)
            self._visible[index] = bool(visible)
            self._frame = None

    def set_kind(self, index: int, kind: str) -> None:
        """Give a body a new shape ('ball' or 'box') with the same pose, velocity and filter."""
        old = self._shapes[index]
        new = self._make_shape(index, kind, old.filter)
        if self._visible[index]:
            self._space.remove(old)
            self._space.add(new)
        self._shapes[index], self._kinds[index] = new, kind
        self._frame, self._state = None, None

    def set_colour(self, index: int, colour: tuple[int, int, int]) -> None:
        self._colours[index] = tuple(int(c) for c in colour)
        self._frame = None

    def ignore_collisions(self, index: int, other: int | str) -> None:
        """From now on, body ``index`` passes through ``other`` (a body index, 'ledge' or 'wall')."""
        bit = {_WALL: _WALL_BIT, _LEDGE: _LEDGE_BIT}.get(other) if isinstance(other, str) else _body_bit(other)
        if bit is None:
            raise ValueError(f"other must be a body index, 'ledge' or 'wall', got {other!r}")
        shape = self._shapes[index]
        shape.filter = pymunk.ShapeFilter(categories=shape.filter.categories, mask=shape.filter.mask & ~bit)

    def _query_filter(self, exclude: int | None) -> pymunk.ShapeFilter:
        everything = pymunk.ShapeFilter.ALL_MASKS()
        return pymunk.ShapeFilter(mask=everything if exclude is None else everything & ~_body_bit(exclude))

    def is_free(self, position: Any, radius: float, exclude: int | None = None) -> bool:
        """Whether a disk of ``radius`` at ``position`` touches no wall, ledge or visible body but ``exclude``."""
        x, y = (float(v) for v in position)
        hit = self._space.point_query_nearest((x, y), radius, self._query_filter(exclude))
        return hit is None

    def path_clear(self, index: int, velocity: Any, duration: float, margin: float = 0.01) -> bool:
        """Whether body ``index`` could fly at ``velocity`` for ``duration`` without touching anything."""
        start = self._bodies[index].position
        end = (start[0] + float(velocity[0]) * duration, start[1] + float(velocity[1]) * duration)
        radius = bounding_radius(self._kinds[index]) + margin
        return self._space.segment_query_first(start, end, radius, self._query_filter(index)) is None

    def clearance(self, index: int) -> float:
        """Gap between body ``index`` and the nearest other shape, conservative for a box (> 0: no contact)."""
        hit = self._space.point_query_nearest(self._bodies[index].position, 2.0, self._query_filter(index))
        return hit.distance - bounding_radius(self._kinds[index])

    def penetration(self, index: int, other: int | str) -> float:
        """How deep (arena units) body ``index`` overlaps ``other`` (a body index or 'ledge'); 0 if apart."""
        if other == _LEDGE:
            target = next(s for s in self._space.static_body.shapes if s.collision_type == _LEDGE_TYPE)
        else:
            target = self._shapes[int(other)]
        mine = self._shapes[index]
        mine.cache_bb(), target.cache_bb()  # hidden or moved bodies may have stale geometry
        # Shape.shapes_collide would do, but pymunk 7.3 asserts when shapes do not touch.
        return max(_sink(mine, target), _sink(target, mine), 0.0)

    # ---- rendering ------------------------------------------------------------

    def _to_pixels(self, box: tuple[float, ...]) -> tuple[float, ...]:
        """World (x, y, x, y, ...) -> supersampled image (col, row, ...)."""
        return tuple(v * self._scale if i % 2 == 0 else (1.0 - v) * self._scale for i, v in enumerate(box))

    def render_state(
        self,
        state: Any,
        visible: Any = None,
        kinds: tuple[str, ...] | None = None,
        colours: tuple[tuple[int, int, int], ...] | None = None,
    ) -> np.ndarray:
        """The image of a state (NUM_FIELDS * num_bodies,), without touching the env: uint8 (H, W, 3).

        ``visible``, ``kinds`` and ``colours`` default to all visible, the shapes the state's
        ``box`` fields name, and BODY_COLOURS; ``kinds`` overrides the state's shapes.
        """
        rows = np.asarray(state, dtype=np.float64).reshape(NUM_BODIES, NUM_FIELDS)
        visible = np.ones(NUM_BODIES, bool) if visible is None else np.asarray(visible, bool)
        kinds = kinds_of(rows) if kinds is None else kinds
        colours = BODY_COLOURS if colours is None else colours
        image = self._background.copy()
        draw = ImageDraw.Draw(image)
        k = self._scale
        for i in range(NUM_BODIES):
            if not visible[i]:
                continue
            x, y, _, _, angle, _ = rows[i]
            cx, cy = x * k, (1.0 - y) * k
            c, s = math.cos(angle), math.sin(angle)
            colour = tuple(int(v) for v in colours[i])
            if kinds[i] == "ball":
                r = BALL_RADIUS * k
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
                spoke = tuple(int(v * _SPOKE_SHADE) for v in colour)
                draw.line((cx, cy, cx + r * c, cy - r * s), fill=spoke, width=_SUPERSAMPLE)
            else:
                h = BOX_HALF_SIZE * k
                corners = [(cx + h * (c * u - s * v), cy - h * (s * u + c * v)) for u, v in _UNIT_SQUARE]
                draw.polygon(corners, fill=colour)
        return np.array(image.reduce(_SUPERSAMPLE))

    def _draw(self) -> np.ndarray:
        return self.render_state(self.state, self._visible, tuple(self._kinds), tuple(self._colours))

    def render(self) -> np.ndarray | None:
        """The current frame (the same image as the last observation, or the world after an intervention)."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._frame is None:
            self._frame = self._draw()
        return self._frame

    # ---- Gymnasium API --------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {"state": self.state, "visible": self._visible.copy()}

    def _sample_layout(self, rng: np.random.Generator, kinds: tuple[str, ...]) -> np.ndarray:
        """Random non-overlapping poses clear of the ledge, with random velocities: (num_bodies, NUM_FIELDS)."""
        state = np.zeros((NUM_BODIES, NUM_FIELDS))
        for i, kind in enumerate(kinds):
            r = bounding_radius(kind) + 0.01
            for _ in range(10_000):
                x, y = rng.uniform(r, 1.0 - r, 2)
                if _ledge_gap(x, y) > r and all(
                    math.hypot(x - state[j, 0], y - state[j, 1]) > r + bounding_radius(kinds[j]) for j in range(i)
                ):
                    break
            else:  # pragma: no cover - the bodies fill under 10 % of the arena
                raise RuntimeError("could not place the bodies without overlap")
            angle = rng.uniform(-math.pi, math.pi)
            state[i] = (x, y, *rng.uniform(-INIT_SPEED, INIT_SPEED, 2), angle, float(kind == "box"))
        return state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Random shapes, poses and velocities, or ``options["state"]`` (and optionally ``options["visible"]``).

        Each body is a box with probability BOX_PROBABILITY, else a ball. A restored state takes
        its shapes from its ``box`` fields and has no spin (the state vector does not hold it);
        it reproduces the image.
        """
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"state", "visible"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the options are 'state' and 'visible'")
        visible = np.ones(NUM_BODIES, bool)
        if "visible" in options:
            visible = np.asarray(options["visible"], dtype=bool)
            if visible.shape != (NUM_BODIES,):
                raise ValueError(f"reset visible must have shape ({NUM_BODIES},), got {visible.shape}")
        if "state" in options:
            state = np.asarray(options["state"], dtype=np.float64)
            if state.shape != (NUM_FIELDS * NUM_BODIES,) or not np.all(np.isfinite(state)):
                raise ValueError(
                    f"reset state must be {NUM_FIELDS * NUM_BODIES} finite numbers ({', '.join(STATE_FIELDS)} for "
                    f"each of {', '.join(BODY_NAMES)}), got shape {state.shape}"
                )
            state, spin = state.reshape(NUM_BODIES, NUM_FIELDS), np.zeros(NUM_BODIES)
        elif "visible" in options:
            raise ValueError("reset option 'visible' needs 'state' too")
        else:
            boxes = self.np_random.random(NUM_BODIES) < BOX_PROBABILITY
            state = self._sample_layout(self.np_random, tuple("box" if b else "ball" for b in boxes))
            spin = self.np_random.uniform(-INIT_ANGULAR_SPEED, INIT_ANGULAR_SPEED, NUM_BODIES)
        self._build(state, spin, visible)
        self._frame = self._draw()
        return self._frame, self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Push body 0 by ``clip(action, -1, 1) * PUSH_DV`` (arena/s) and simulate DT; reward is always 0."""
        self.advance(action)
        self._frame = self._draw()
        return self._frame, 0.0, False, False, self._info()
