"""Maze: a point agent in a grid of rooms joined by doors, observed as an RGB image.

Same conventions as TwoRoom: the arena is the unit square [0, 1]², x to the right, y up
(images put y = 1 on row 0); actions are 2-D velocities in [-1, 1]², ``info["state"]`` is
the agent's position. The rooms form a ``rows x cols`` grid; which neighbouring rooms
share a door is drawn from a seed (a random spanning tree, so every room is reachable and,
with no extra doors, by exactly one route), and layouts are listed by name in ``LAYOUTS``.

Walls are axis-aligned rectangles. Collisions treat the agent as its bounding square, so
each wall is grown by the agent's radius and the centre may touch, never enter, a grown
wall; a move stops at the first grown wall along each axis (x first, then y, so that the
agent slides along walls). A grown wall (0.08 thick) is five steps wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from openami.worlds.point import PointWorld

ARENA_WIDTH = 1.0
WALL_HALF_THICKNESS = 0.015
"""Half a wall's thickness (walls are 0.03 thick, 2 pixels at 64x64)."""
DOOR_HALF_WIDTH = 0.06
"""Half a door's width (the gap is 0.12 wide; the agent's centre has 0.07 of it)."""
AGENT_RADIUS = 0.025
MAX_STEP = 0.015
"""Largest move per axis in one step (action 1.0): a room of the 3x3 maze is ~20 steps across."""


@dataclass(frozen=True)
class MazeLayout:
    """A maze: the grid of rooms and the seed that picks its doors."""

    rows: int
    cols: int
    seed: int
    extra_doors: int = 0
    """Doors added beyond the spanning tree; each makes a loop, i.e. a second route."""

    def doors(self) -> list[tuple[int, int]]:
        """Pairs of room indices (row * cols + col, a < b) joined by a door."""
        rng = np.random.default_rng(self.seed)
        walls = [(r * self.cols + c, r * self.cols + c + 1) for r in range(self.rows) for c in range(self.cols - 1)]
        walls += [(r * self.cols + c, (r + 1) * self.cols + c) for r in range(self.rows - 1) for c in range(self.cols)]
        order = rng.permutation(len(walls))
        parent = list(range(self.rows * self.cols))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        doors, spare = [], []
        for w in order:  # randomised Kruskal: a door wherever it joins two unjoined parts
            a, b = walls[w]
            if root(a) != root(b):
                parent[root(a)] = root(b)
                doors.append((a, b))
            else:
                spare.append((a, b))
        return sorted(doors + spare[: self.extra_doors])


LAYOUTS: dict[str, MazeLayout] = {
    "classic": MazeLayout(3, 3, seed=0),
    "loops": MazeLayout(3, 3, seed=0, extra_doors=2),
    "small": MazeLayout(2, 2, seed=0),
    "large": MazeLayout(4, 4, seed=0),
}
"""Named layouts; ``classic`` (3x3 rooms, 8 doors, one route between any two rooms) is the default."""


def _f32(value: float) -> float:
    return float(np.float32(value))


_LO = _f32(AGENT_RADIUS)
_HI = _f32(ARENA_WIDTH - AGENT_RADIUS)
_WALL = np.array([64, 64, 76], dtype=np.float32)
_SUPERSAMPLE = 4


def _floor_colours(n: int) -> np.ndarray:
    """n distinct pale floor tints, so the room shows in the image: float32[n, 3]."""
    hues = np.arange(n) / n
    angle = 2 * np.pi * hues[:, None] + np.array([0.0, 2.0, 4.0]) * np.pi / 3
    return (215 + 30 * np.cos(angle)).astype(np.float32)


class MazeEnv(PointWorld):
    """Rooms in a grid joined by doors; actions are 2-D velocities, observations RGB images.

    Reward-free and never terminating: the caller bounds episodes. ``info["state"]`` is the
    agent's position (float32[2]), ``info["room"]`` its room (row * cols + col, row 0 at the bottom).
    """

    arena_width: float = ARENA_WIDTH
    max_step: float = MAX_STEP

    def __init__(self, render_mode: str | None = None, size: int = 64, layout: str = "classic") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown maze layout {layout!r}; layouts: {', '.join(LAYOUTS)}")
        self.layout_name, self.layout = layout, LAYOUTS[layout]
        self.rows, self.cols = self.layout.rows, self.layout.cols
        self.doors = self.layout.doors()
        self.walls = self._wall_rectangles()  # (W, 4): x0, x1, y0, y1
        grown = self.walls + np.array([-1, 1, -1, 1]) * AGENT_RADIUS
        self._grown = np.array([[_f32(v) for v in row] for row in grown])
        self._setup(render_mode, size, 16, self._draw_background, AGENT_RADIUS)
        self._distance_cache: dict[int, np.ndarray] = {}
        self._grid_graph: csr_matrix | None = None
        self._x, self._y = 0.5 / self.cols, 0.5 / self.rows

    # ---- geometry -------------------------------------------------------------

    def _wall_rectangles(self) -> np.ndarray:
        """Every interior wall segment between two rooms, split around its door if it has one."""
        t, d = WALL_HALF_THICKNESS, DOOR_HALF_WIDTH
        w, h = ARENA_WIDTH / self.cols, ARENA_WIDTH / self.rows
        doors = set(self.doors)
        rects = []
        for r in range(self.rows):
            for c in range(self.cols):
                room = r * self.cols + c
                if c + 1 < self.cols:  # vertical wall on the room's right, extended over the junctions
                    x, y0, y1 = (c + 1) * w, r * h - t, (r + 1) * h + t
                    spans = [(y0, y1)] if (room, room + 1) not in doors else [
                        (y0, (r + 0.5) * h - d), ((r + 0.5) * h + d, y1)]
                    rects += [(x - t, x + t, a, b) for a, b in spans]
                if r + 1 < self.rows:  # horizontal wall above the room
                    y, x0, x1 = (r + 1) * h, c * w - t, (c + 1) * w + t
                    spans = [(x0, x1)] if (room, room + self.cols) not in doors else [
                        (x0, (c + 0.5) * w - d), ((c + 0.5) * w + d, x1)]
                    rects += [(a, b, y - t, y + t) for a, b in spans]
        return np.array(rects, dtype=np.float64).reshape(-1, 4)

    def is_free(self, position: Any) -> bool:
        """Whether the agent's centre may be at ``position`` (x, y)."""
        x, y = (float(v) for v in np.asarray(position, dtype=np.float64).reshape(2))
        if not (math.isfinite(x) and math.isfinite(y) and _LO <= x <= _HI and _LO <= y <= _HI):
            return False
        g = self._grown
        return not np.any((g[:, 0] < x) & (x < g[:, 1]) & (g[:, 2] < y) & (y < g[:, 3]))

    def room_of(self, position: Any) -> int:
        x, y = (float(v) for v in np.asarray(position).reshape(2))
        col = min(int(x * self.cols / ARENA_WIDTH), self.cols - 1)
        row = min(int(y * self.rows / ARENA_WIDTH), self.rows - 1)
        return row * self.cols + col

    def sample_free_position(self, rng: np.random.Generator, room: int | None = None) -> np.ndarray:
        """A uniform free position (float32[2]), in ``room`` if given (rooms are equal, so uniform overall)."""
        n_rooms = self.rows * self.cols
        if room is None:
            room = int(rng.integers(n_rooms))
        if not 0 <= room < n_rooms:
            raise ValueError(f"room must be in 0..{n_rooms - 1} or None, got {room!r}")
        w, h = ARENA_WIDTH / self.cols, ARENA_WIDTH / self.rows
        r, c = divmod(room, self.cols)
        while True:  # rejection: the room's box minus its grown walls
            position = np.array([rng.uniform(c * w, (c + 1) * w), rng.uniform(r * h, (r + 1) * h)], np.float32)
            if self.is_free(position) and self.room_of(position) == room:
                return position

    def _move(self, dx: float, dy: float) -> None:
        g = self._grown
        x = min(max(self._x + dx, _LO), _HI)
        across = (g[:, 2] < self._y) & (self._y < g[:, 3])  # walls this row of motion can hit
        if dx > 0:
            ahead = g[across & (g[:, 0] >= self._x) & (g[:, 0] < x), 0]
            x = min(x, *ahead) if ahead.size else x
        elif dx < 0:
            ahead = g[across & (g[:, 1] <= self._x) & (g[:, 1] > x), 1]
            x = max(x, *ahead) if ahead.size else x
        y = min(max(self._y + dy, _LO), _HI)
        across = (g[:, 0] < x) & (x < g[:, 1])
        if dy > 0:
            ahead = g[across & (g[:, 2] >= self._y) & (g[:, 2] < y), 2]
            y = min(y, *ahead) if ahead.size else y
        elif dy < 0:
            ahead = g[across & (g[:, 3] <= self._y) & (g[:, 3] > y), 3]
            y = max(y, *ahead) if ahead.size else y
        self._x, self._y = _f32(x), _f32(y)

    def path_steps(self, start: Any, goal: Any) -> int:
        """Fewest steps from ``start`` to near ``goal`` (breadth-first search on a grid of one step a cell).

        Moves go to the 8 neighbouring cells (each axis moves at most one step), through free cells.
        It measures how far apart two states are for drawing far goals; -1 if unreachable.
        """
        return int(self._distance_field(self._cell(goal))[self._cell(start)])

    def _cell(self, position: Any) -> int:
        """Index of the grid cell (one step a side, row-major from the bottom-left) nearest ``position``."""
        x, y = (float(v) for v in np.asarray(position).reshape(2))
        n = len(self._grid_coords())
        clamp = lambda v: min(max(int(round((v - _LO) / MAX_STEP)), 0), n - 1)
        return clamp(y) * n + clamp(x)

    def _grid_coords(self) -> np.ndarray:
        return np.arange(_LO, _HI + 1e-9, MAX_STEP)

    def _distance_field(self, source: int) -> np.ndarray:
        if self._grid_graph is None:
            self._grid_graph = self._build_grid_graph()
        if source not in self._distance_cache:
            if len(self._distance_cache) > 256:
                self._distance_cache.clear()
            dist = shortest_path(self._grid_graph, unweighted=True, indices=source)
            self._distance_cache[source] = np.where(np.isfinite(dist), dist, -1).astype(np.int64)
        return self._distance_cache[source]

    def _build_grid_graph(self) -> csr_matrix:
        """Cells joined to their 8 neighbours when both are free: the moves of one step."""
        coords = self._grid_coords()
        n = len(coords)
        free = np.array([[self.is_free((x, y)) for x in coords] for y in coords])  # [iy, ix]
        index = np.arange(n * n).reshape(n, n)
        rows, cols = [], []
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = index[max(0, -dy):n - max(0, dy), max(0, -dx):n - max(0, dx)]
            b = index[max(0, dy):n - max(0, -dy) or None, max(0, dx):n - max(0, -dx) or None]
            ok = free.ravel()[a] & free.ravel()[b]
            rows += [a[ok], b[ok]]
            cols += [b[ok], a[ok]]
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n * n, n * n))

    # ---- rendering ------------------------------------------------------------

    def _draw_background(self, size: int) -> np.ndarray:
        n = size * _SUPERSAMPLE
        centres = (np.arange(n) + 0.5) / n * ARENA_WIDTH
        x = np.broadcast_to(centres[None, :], (n, n))
        y = np.broadcast_to(ARENA_WIDTH - centres[:, None], (n, n))
        col = np.minimum((x * self.cols).astype(int), self.cols - 1)
        row = np.minimum((y * self.rows).astype(int), self.rows - 1)
        image = _floor_colours(self.rows * self.cols)[row * self.cols + col]
        for x0, x1, y0, y1 in self.walls:
            image[(x0 < x) & (x < x1) & (y0 < y) & (y < y1)] = _WALL
        image = image.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
        return np.rint(image).astype(np.uint8)

    def _not_free(self, state: Any) -> str:
        return (f"reset state {state!r} is not a free position in the {self.layout_name!r} maze "
                "(use sample_free_position or is_free)")
