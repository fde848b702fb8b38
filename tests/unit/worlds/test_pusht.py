"""PushT: API contract, pushing physics, rendering, its data policy, protocol and factors of variation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from openami.data.collect import rollout_policy
from openami.data.policies import PolicyConfig
from openami.evaluation.protocols import PROTOCOLS
from openami.worlds import PushTEnv, make_world, parse_factors
from openami.worlds.checks import wrap_angle
from openami.worlds.pusht import MAX_STEP, PUSHER_RADIUS, TABLE, block_errors, t_polygons

# Block in the middle, upright; pusher to its left, level with the stem, at rest.
_MIDDLE = np.array([150.0, 240.0, 0.0, 0.0, 256.0, 256.0, 0.0], np.float32)


def _env(size: int = 32, **kwargs) -> PushTEnv:
    return PushTEnv(render_mode="rgb_array", size=size, **kwargs)


def test_check_env_and_registration() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_world("pusht", size=32).unwrapped)
    assert [str(w.message) for w in caught] == []
    assert make_world("pusht", size=48).observation_space.shape == (48, 48, 3)


def test_constructor_and_reset_checks() -> None:
    with pytest.raises(ValueError, match="block_scale"):
        PushTEnv(block_scale=3)
    with pytest.raises(ValueError, match="block_colour"):
        PushTEnv(block_colour=(300, 0, 0))
    env = _env()
    with pytest.raises(ValueError, match="7 finite numbers"):
        env.reset(options={"state": [1, 2, 3]})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"visible": True})
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([np.nan, 0.0]))


def test_t_polygons_are_centred_on_the_centroid() -> None:
    polygons = t_polygons()
    areas, moments = [], []
    for p in polygons:
        xs, ys = zip(*p, strict=True)
        area = (max(xs) - min(xs)) * (max(ys) - min(ys))
        areas.append(area)
        moments.append(area * np.array([(max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2]))
    assert np.allclose(np.sum(moments, axis=0) / np.sum(areas), 0.0, atol=1e-9)
    assert sum(areas) == pytest.approx(120 * 30 + 30 * 90)


def test_pusher_moves_as_commanded_and_stays_on_the_table() -> None:
    env = _env()
    env.reset(options={"state": [100.0, 100.0, 0, 0, 400.0, 400.0, 0.0]})
    _, _, _, _, info = env.step(np.array([1.0, -0.5]))
    assert np.allclose(info["state"][:2], [100 + MAX_STEP, 100 - MAX_STEP / 2], atol=1e-3)
    assert np.allclose(info["state"][2:4], [MAX_STEP / 0.1, -MAX_STEP / 0.2], atol=1e-2)
    for _ in range(30):
        _, _, _, _, info = env.step(np.array([-1.0, -1.0]))
    assert np.allclose(info["state"][:2], PUSHER_RADIUS)
    assert np.allclose(info["state"][4:], [400, 400, 0], atol=1e-4)  # never touched: the block did not move


def test_a_push_moves_the_block_and_it_stops_when_the_push_stops() -> None:
    env = _env()
    env.reset(options={"state": _MIDDLE})
    for _ in range(6):  # push right, below the centroid: the block moves right and turns
        _, _, _, _, info = env.step(np.array([1.0, 0.0]))
    moved = info["state"][4:].copy()
    assert moved[0] > 256 + 2 * MAX_STEP and abs(moved[1] - 256) < 30
    assert abs(moved[2]) > 0.05  # an off-centre push turns the block
    for _ in range(2):  # pull back: no momentum, the block stops (up to the drag of leaving contact)
        _, _, _, _, info = env.step(np.array([-1.0, 0.0]))
    assert np.allclose(info["state"][4:6], moved[:2], atol=10.0)
    stopped = info["state"][4:].copy()
    for _ in range(3):
        _, _, _, _, info = env.step(np.array([-1.0, 0.0]))
    assert np.allclose(info["state"][4:], stopped, atol=1e-4)


def test_a_block_pushed_into_a_wall_stays_on_the_table() -> None:
    env = _env()
    env.reset(options={"state": [256.0, 240.0, 0, 0, 256.0, 100.0, 0.0]})  # the block near the bottom wall
    lowest = []
    for _ in range(30):  # push down, hard, on top of the block, until the pusher slips past it
        env.step(np.array([0.0, -1.0]))
        corners = [env._block.local_to_world(v) for part in env._block.shapes for v in part.get_vertices()]
        lowest.append(min(y for _, y in corners))
    # The wall holds the block: it sinks in by a few units at most (a kinematic pusher drove it through).
    assert min(lowest) > -8.0


def test_resets_never_overlap_and_episodes_stay_on_the_table() -> None:
    env = _env()
    for seed in range(60):
        _, info = env.reset(seed=seed)
        pusher = info["state"][:2]
        distance = min(part.point_query(tuple(pusher)).distance for part in env._block.shapes)
        assert distance >= PUSHER_RADIUS
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    for seed in range(1_000_000, 1_000_010):  # the protocol's episodes
        _, _, states = rollout_policy(env, PolicyConfig(name="pusht"), low, high, seed, 100)
        assert np.all((states[:, 4:6] > 0) & (states[:, 4:6] < TABLE))
        assert np.all((states[:, :2] >= PUSHER_RADIUS - 1) & (states[:, :2] <= TABLE - PUSHER_RADIUS + 1))


def test_render_state_is_pure_and_shows_pose() -> None:
    env = _env(size=64)
    obs, info = env.reset(seed=3)
    assert np.array_equal(env.render_state(info["state"]), obs)
    turned = info["state"].copy()
    turned[6] = wrap_angle(turned[6] + math.pi / 2)
    assert not np.array_equal(env.render_state(turned), obs)
    obs2, _ = env.reset(options={"state": info["state"]})
    assert np.array_equal(obs2, obs)
    assert np.array_equal(env.render(), obs)  # drawing other states left the episode alone
    # A colour shift changes the picture.
    red = _env(size=64, block_colour=(200, 60, 60))
    assert not np.array_equal(red.render_state(info["state"]), obs)


def test_block_errors_wrap_angles() -> None:
    a = np.array([0, 0, 0, 0, 100.0, 100.0, math.pi - 0.05])
    b = np.array([0, 0, 0, 0, 103.0, 104.0, -math.pi + 0.05])
    position, angle = block_errors(a, b)
    assert position == pytest.approx(5.0) and angle == pytest.approx(0.1)


def test_data_policy_pushes_the_block_often() -> None:
    env = make_world("pusht", size=32)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    moving = []
    for seed in range(4):
        _, actions, states = rollout_policy(env, PolicyConfig(name="pusht"), low, high, seed, 100)
        assert np.all(np.abs(actions) <= 1)
        moving.append(np.mean(np.abs(np.diff(states[:, 4:], axis=0)).sum(1) > 1e-3))
        assert np.all((states[:, 4:6] > 0) & (states[:, 4:6] < TABLE))
    # Random momentum actions move the block in a few percent of steps; this policy in about 60 %.
    assert np.mean(moving) > 0.35
    with pytest.raises(ValueError, match="PushT"):
        rollout_policy(make_world("tworoom", size=32), PolicyConfig(name="pusht"), low, high, 0, 5)


def test_offset_protocol_judges_the_block_pose() -> None:
    protocol = PROTOCOLS.get("pusht-offset25")
    env = make_world("pusht", size=32)
    tasks = protocol.tasks(env, 3)
    assert [t.start.shape for t in tasks] == [(7,)] * 3
    assert tasks[0].start.tolist() == protocol.tasks(env, 1)[0].start.tolist()  # frozen
    goal = _MIDDLE
    near = goal.copy()
    near[4] += 12.0
    near[0] += 9.0  # 12 and 9 in one norm: 15
    near[6] = math.pi / 10
    assert protocol.judge(near, goal) == (True, pytest.approx(15.0))
    far = near.copy()
    far[6] = math.pi / 8
    assert protocol.judge(far, goal)[0] is False
    moved_pusher = near.copy()
    moved_pusher[1] += 16.0  # the pusher counts too: sqrt(12² + 9² + 16²) > 20
    assert protocol.judge(moved_pusher, goal)[0] is False


def test_parse_factors() -> None:
    assert parse_factors("pusht", ["block_colour=200,60,60", "block_scale=1.2"]) == {
        "block_colour": (200.0, 60.0, 60.0), "block_scale": 1.2}
    with pytest.raises(ValueError, match="block_scale"):
        parse_factors("pusht", ["colour=1"])
    with pytest.raises(ValueError, match="numbers"):
        parse_factors("pusht", ["block_scale=big"])
    with pytest.raises(ValueError, match="block_colour must be three"):
        parse_factors("pusht", ["block_colour=200"])
    with pytest.raises(ValueError, match="block_scale must be"):
        parse_factors("pusht", ["block_scale=1,2"])
    with pytest.raises(ValueError, match="block_scale must be"):
        parse_factors("pusht", ["block_scale=3"])
    with pytest.raises(ValueError, match="no factors"):
        parse_factors("tworoom", ["block_scale=1"])
