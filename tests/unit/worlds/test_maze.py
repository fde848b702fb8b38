"""The maze: layouts, walls that hold, doors that let through, distances that count steps."""

from __future__ import annotations

import numpy as np
import pytest

from openami.worlds import make_world
from openami.worlds.maze import LAYOUTS, MAX_STEP, MazeEnv, MazeLayout


def _maze(layout: str = "classic") -> MazeEnv:
    return make_world("maze", layout=layout).unwrapped


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_doors_join_every_room(name: str) -> None:
    layout = LAYOUTS[name]
    doors = layout.doors()
    rooms = layout.rows * layout.cols
    assert len(doors) == rooms - 1 + layout.extra_doors
    reached, frontier = {0}, [0]
    while frontier:
        room = frontier.pop()
        for a, b in doors:
            for here, there in ((a, b), (b, a)):
                if here == room and there not in reached:
                    reached.add(there)
                    frontier.append(there)
    assert reached == set(range(rooms))
    for a, b in doors:  # doors join neighbours only
        (ra, ca), (rb, cb) = divmod(a, layout.cols), divmod(b, layout.cols)
        assert abs(ra - rb) + abs(ca - cb) == 1


def test_layouts_come_from_the_seed() -> None:
    assert MazeLayout(3, 3, seed=0).doors() == MazeLayout(3, 3, seed=0).doors()
    assert len({tuple(MazeLayout(3, 3, seed=s).doors()) for s in range(6)}) > 1


def test_unknown_layout_is_named() -> None:
    with pytest.raises(ValueError, match="classic"):
        MazeEnv(layout="nope")


def test_walls_hold_and_doors_let_through() -> None:
    maze = _maze()
    rng = np.random.default_rng(0)
    crossed = set()
    for episode in range(40):
        maze.reset(seed=episode)
        action = rng.uniform(-1, 1, 2)
        for _ in range(150):
            before = maze.room_of(maze._info()["state"])
            action = np.clip(0.9 * action + 0.45 * rng.normal(size=2), -1, 1)
            _, _, _, _, info = maze.step(action)
            after = info["room"]
            assert maze.is_free(info["state"])
            if after != before:  # only through a door, between neighbours that share it
                crossed.add((min(before, after), max(before, after)))
    assert crossed, "a random walk of 6,000 steps never went through a door"
    assert crossed <= set(maze.doors)


def test_a_wall_without_door_stops_the_agent() -> None:
    maze = _maze()
    walled = next((a, b) for a in range(8) for b in (a + 1,) if b % 3 and (a, b) not in maze.doors)
    row, col = divmod(walled[0], 3)
    wall_x = (col + 1) / 3
    start = np.array([wall_x - 0.06, (row + 0.5) / 3], np.float32)
    maze.reset(options={"state": start})
    for _ in range(20):
        _, _, _, _, info = maze.step(np.array([1.0, 0.0]))
    assert info["room"] == walled[0]
    assert info["state"][0] < wall_x
    assert info["state"][0] > start[0]  # it moved up to the wall


def test_path_steps_counts_steps_through_doors() -> None:
    maze = _maze()
    a = np.array([0.1, 0.1], np.float32)
    assert maze.path_steps(a, a) == 0
    assert maze.path_steps(a, a + [5 * MAX_STEP, 0]) == 5
    assert maze.path_steps(a, a + [5 * MAX_STEP, 3 * MAX_STEP]) == 5  # diagonal moves take one step
    # Across a wall with no door, the way round is far longer than the straight line.
    walled = next((r, c) for r in range(3) for c in range(2) if (r * 3 + c, r * 3 + c + 1) not in maze.doors)
    left = np.array([(walled[1] + 1) / 3 - 0.05, (walled[0] + 0.5) / 3], np.float32)
    right = left + np.array([0.1, 0.0], np.float32)
    assert maze.path_steps(left, right) > 3 * 0.1 / MAX_STEP


def test_empty_image_and_render_state() -> None:
    maze = _maze()
    obs, info = maze.reset(seed=3)
    assert np.array_equal(maze.render_state(info["state"]), obs)
    assert (maze.empty_image() != obs).any(axis=-1).sum() > 0
    assert (maze.empty_image() != obs).any(axis=-1).sum() < 20  # only the agent's few pixels differ
