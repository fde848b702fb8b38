"""The physics world: API contract, layout, physics sanity, interventions and probe targets."""

from __future__ import annotations

import math
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from openami.config import ConfigError
from openami.data.policies import POLICIES, PolicyConfig
from openami.worlds import PhysicsEnv, make_world
from openami.worlds.physics import (
    BALL_RADIUS,
    BODY_COLOURS,
    BODY_NAMES,
    BOX_HALF_SIZE,
    DT,
    LEDGE_Y,
    MAX_SPEED,
    NUM_BODIES,
    NUM_FIELDS,
    PUSH_DV,
    STATE_FIELDS,
    physics_quantities,
)


def _env(size: int = 32) -> PhysicsEnv:
    return PhysicsEnv(render_mode="rgb_array", size=size)


def _state(*bodies: tuple[float, float, float, float, float, float]) -> np.ndarray:
    return np.asarray(bodies, dtype=np.float32).reshape(-1)


# Three bodies apart from each other and from the ledge, at rest: two balls and a box.
_APART = _state((0.15, 0.8, 0, 0, 0, 0), (0.5, 0.8, 0, 0, 0, 0), (0.85, 0.8, 0, 0, 0, 1))


def test_check_env_and_registration() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_world("physics", size=32).unwrapped)
    assert [str(w.message) for w in caught] == []
    env = make_world("physics", size=48)
    assert isinstance(env.unwrapped, PhysicsEnv) and env.observation_space.shape == (48, 48, 3)
    assert gymnasium.make("openami/Physics-v0").unwrapped.render_mode is None


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="render_mode"):
        PhysicsEnv(render_mode="human")
    with pytest.raises(ValueError, match="size"):
        PhysicsEnv(size=8)


def test_state_layout() -> None:
    assert len(BODY_NAMES) == len(BODY_COLOURS) == NUM_BODIES == 3 and BODY_NAMES == ("red", "blue", "green")
    assert STATE_FIELDS == ("x", "y", "vx", "vy", "angle", "box") and NUM_FIELDS == 6
    assert len(set(BODY_COLOURS)) == NUM_BODIES
    env = _env(64)
    obs, info = env.reset(seed=0)
    assert info["state"].shape == (18,) and info["state"].dtype == np.float32
    assert info["visible"].dtype == bool and info["visible"].tolist() == [True] * NUM_BODIES
    boxes = info["state"][5::6]
    assert set(boxes.tolist()) <= {0.0, 1.0} and env.kinds == tuple("box" if b else "ball" for b in boxes)
    # Each body's colour is where its state says it is (near the centre: a ball's spoke is darker).
    for i, colour in enumerate(BODY_COLOURS):
        x, y = info["state"][6 * i : 6 * i + 2]
        row, col = int((1 - y) * env.size), int(x * env.size)
        patch = obs[row - 2 : row + 3, col - 2 : col + 3]
        assert np.all(patch == colour, axis=-1).sum() >= 10


def test_shapes_are_random_per_body_and_seed() -> None:
    env = _env()
    kinds = []
    for seed in range(20):
        _, info = env.reset(seed=seed)
        kinds.append(env.kinds)
        assert env.kinds == tuple("box" if b else "ball" for b in info["state"][5::6])
        assert _env().reset(seed=seed)[1]["state"].tobytes() == info["state"].tobytes()  # deterministic by seed
    for i in range(NUM_BODIES):  # every body, whatever its colour, is sometimes a ball and sometimes a box
        assert {k[i] for k in kinds} == {"ball", "box"}, f"body {i} always has one shape"
    env.reset(options={"state": _APART})  # a restored state brings its shapes, whatever the last seed drew
    assert env.kinds == ("ball", "ball", "box")


def test_determinism_and_seeds() -> None:
    a, b = _env(), _env()
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float32)
    for env in (a, b):
        env.reset(seed=11)
    for action in actions:
        obs_a, _, _, _, info_a = a.step(action)
        obs_b, _, _, _, info_b = b.step(action)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(info_a["state"], info_b["state"])
    assert not np.array_equal(a.reset(seed=1)[1]["state"], a.reset(seed=2)[1]["state"])


def test_reset_layout_is_free_and_moving() -> None:
    env = _env()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        s = info["state"].reshape(NUM_BODIES, NUM_FIELDS)
        for i in range(NUM_BODIES):
            assert env.clearance(i) > 0, f"seed {seed}: body {i} overlaps something at reset"
        assert np.abs(s[:, 2:4]).max() > 0.05


def test_bodies_stay_in_arena_and_under_speed_cap() -> None:
    env = _env()
    _, info = env.reset(seed=5)
    rng = np.random.default_rng(5)
    for action in rng.uniform(-1, 1, (600, 2)).astype(np.float32):
        prev = info["state"].reshape(NUM_BODIES, NUM_FIELDS)
        obs, reward, terminated, truncated, info = env.step(action)
        s = info["state"].reshape(NUM_BODIES, NUM_FIELDS)
        assert reward == 0.0 and not (terminated or truncated)
        assert np.all(s[:, :2] > BOX_HALF_SIZE - 0.005) and np.all(s[:, :2] < 1 - BOX_HALF_SIZE + 0.005)
        assert np.all(np.hypot(s[:, 2], s[:, 3]) <= MAX_SPEED + 1e-4)
        step = np.hypot(*(s[:, :2] - prev[:, :2]).T)
        assert np.all(step <= (MAX_SPEED + 0.2) * DT)  # ~8 px per frame at 64x64
        for i in range(NUM_BODIES):
            assert env.penetration(i, "ledge") < 0.01


def test_gravity_pulls_down_and_drop_time() -> None:
    env = _env()
    top = _APART.copy()
    top[1] = 1 - BALL_RADIUS
    env.reset(options={"state": top})
    heights, speeds = [env.state[1]], [0.0]
    while speeds[-1] <= 0:  # until the ball bounces off the floor
        state = env.step(np.zeros(2, np.float32))[4]["state"]
        heights.append(state[1]), speeds.append(state[3])
    assert np.all(np.diff(heights[:-1]) < 0) and np.all(np.diff(speeds[:-1]) < 0)
    assert 15 <= len(heights) - 1 <= 25  # steps from the ceiling to the floor


def test_push_changes_body_zero_velocity_only() -> None:
    pushed, idle = _env(), _env()
    for env in (pushed, idle):
        env.reset(options={"state": _APART})
    a = pushed.step(np.array([1.0, 0.0], np.float32))[4]["state"]
    b = idle.step(np.zeros(2, np.float32))[4]["state"]
    assert a[2] - b[2] == pytest.approx(PUSH_DV, rel=0.05)
    np.testing.assert_array_equal(a[NUM_FIELDS:], b[NUM_FIELDS:])
    clipped = _env()
    clipped.reset(options={"state": _APART})
    np.testing.assert_array_equal(clipped.step(np.array([9.0, 0.0], np.float32))[4]["state"], a)


def test_render_state_is_pure_and_matches_observation() -> None:
    env = _env()
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(env.render_state(info["state"]), obs)
    hidden = env.render_state(info["state"], visible=[True, False, True])
    np.testing.assert_array_equal(env.state, info["state"])
    assert not np.any(np.all(hidden == BODY_COLOURS[1], axis=-1))
    replay = _env()
    obs_r, info_r = replay.reset(options={"state": info["state"]})
    np.testing.assert_array_equal(obs_r, obs)
    np.testing.assert_array_equal(info_r["state"], info["state"])
    assert replay.kinds == env.kinds


def test_reset_state_restores_shapes() -> None:
    env = _env(64)
    for boxes in [(0, 0, 0), (1, 1, 1), (1, 0, 1), (0, 1, 0)]:
        state = _APART.copy()
        state[5::6] = boxes
        obs, info = env.reset(options={"state": state})
        assert env.kinds == tuple("box" if b else "ball" for b in boxes)
        np.testing.assert_array_equal(info["state"], state)
        np.testing.assert_array_equal(env.render_state(state), obs)
        for i, b in enumerate(boxes):  # an upright box fills its bounding rectangle; a ball about π/4 of it
            rows, cols = np.nonzero(np.all(obs == BODY_COLOURS[i], axis=-1))
            fill = len(rows) / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1))
            assert (fill > 0.9) == bool(b), f"body {i}: fill {fill:.2f}"


def test_reset_options_errors() -> None:
    env = _env()
    with pytest.raises(ValueError, match="18 finite numbers"):
        env.reset(options={"state": [0.5, 0.5]})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"goal": 1})
    with pytest.raises(ValueError, match="needs 'state'"):
        env.reset(options={"visible": [True, True, False]})
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))


def test_interventions() -> None:
    env = _env(64)
    above_ledge = _state((0.5, LEDGE_Y + 0.2, 0, 0, 0, 0), (0.15, 0.8, 0, 0, 0, 0), (0.85, 0.8, 0, 0, 0, 1))
    env.reset(options={"state": above_ledge})
    env.set_visible(1, False)
    assert not np.any(np.all(env.render() == BODY_COLOURS[1], axis=-1))
    env.set_colour(2, (235, 200, 30))
    env.set_kind(0, "box")
    assert env.state[5] == 1.0 and env.kinds == ("box", "ball", "box")  # the state shows the new shape
    colours = (BODY_COLOURS[0], BODY_COLOURS[1], (235, 200, 30))
    np.testing.assert_array_equal(env.render(), env.render_state(env.state, [1, 0, 1], colours=colours))
    np.testing.assert_array_equal(env.render(), env.render_state(env.state, [1, 0, 1], ("box", "ball", "box"), colours))
    env.set_kind(0, "ball")
    assert env.state[5] == 0.0
    env.ignore_collisions(0, "ledge")
    depths = []
    for _ in range(12):
        env.step(np.zeros(2, np.float32))
        depths.append(env.penetration(0, "ledge"))
    assert max(depths) > BALL_RADIUS and env.state[1] < LEDGE_Y  # fell through the ledge
    assert env.state[NUM_FIELDS + 1] == pytest.approx(0.8)  # the hidden body is frozen where it was


def test_physics_quantities() -> None:
    states = np.zeros((4, NUM_FIELDS * NUM_BODIES), np.float32)
    states[:, 4::6] = np.array([0.0, math.pi / 2, math.pi, 0.3])[:, None]  # every body's angle
    states[:, 2] = [1, 2, 3, 4]
    states[:, 17] = 1.0  # green is a box in every row, red and blue are balls
    q = physics_quantities(states)
    assert set(q) == {f"{n}.{k}" for n in ("red", "blue", "green") for k in ("position", "velocity", "angle")}
    for name, (target, dynamic) in q.items():
        assert target.shape == (4, 2) and target.dtype == np.float32
        assert dynamic == name.endswith(".velocity")
    np.testing.assert_allclose(q["red.velocity"][0][:, 0], [1, 2, 3, 4])
    box, ball = q["green.angle"][0], q["red.angle"][0]
    np.testing.assert_allclose(box[1], box[0], atol=1e-6)  # a box turned by 90° looks the same
    np.testing.assert_allclose(box[3], [math.cos(1.2), math.sin(1.2)], atol=1e-6)  # (cos 4θ, sin 4θ)
    np.testing.assert_allclose(ball[1], [0, 1], atol=1e-6)  # a ball's spoke shows θ itself
    np.testing.assert_allclose(ball[3], [math.cos(0.3), math.sin(0.3)], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        physics_quantities(states[:, :10])


def test_physics_quantities_read_the_shape_per_row() -> None:
    theta = 0.4
    states = np.zeros((4, NUM_FIELDS * NUM_BODIES), np.float32)
    states[:, 4] = [theta, theta + math.pi / 2, theta, theta + math.pi / 2]  # red's angle
    states[:, 5] = [1, 1, 0, 0]  # red is a box in rows 0-1, a ball in rows 2-3
    angle = physics_quantities(states)["red.angle"][0]
    np.testing.assert_allclose(angle[0], [math.cos(4 * theta), math.sin(4 * theta)], atol=1e-6)
    np.testing.assert_allclose(angle[1], angle[0], atol=1e-5)  # a box: θ and θ + 90° give one target
    np.testing.assert_allclose(angle[2], [math.cos(theta), math.sin(theta)], atol=1e-6)
    assert np.abs(angle[3] - angle[2]).max() > 0.5  # a ball: the spoke shows the 90° turn


def _contacts_per_episode(policy: str, episodes: int = 6, wander: float = 0.25) -> dict[str, float]:
    """Collisions that start per 100-step episode under a data policy: between two bodies, or with the ledge."""
    env = _env()
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    counts = {"body": 0, "ledge": 0}
    for seed in range(episodes):
        _, info = env.reset(seed=seed)
        act = POLICIES.get(policy)(PolicyConfig(name=policy, wander=wander), low, high, np.random.default_rng(seed))
        for _ in range(99):
            action = act(info)
            assert np.all(np.abs(action) <= 1)
            _, _, _, _, info = env.step(action)
            for body, other in env.hits:
                if other == "ledge":
                    counts["ledge"] += 1
                elif isinstance(other, int) and body < other:
                    counts["body"] += 1
    return {k: v / episodes for k, v in counts.items()}


def test_contact_policy_makes_bodies_collide_and_hit_the_ledge_more_often() -> None:
    wander, seek = _contacts_per_episode("momentum"), _contacts_per_episode("contact")
    assert seek["body"] > 1.5 * wander["body"] and seek["ledge"] > 1.5 * wander["ledge"]
    with pytest.raises(ValueError, match="physics world"):
        POLICIES.get("contact")(PolicyConfig(name="contact"), -np.ones(2), np.ones(2),
                                np.random.default_rng(0))({"state": np.zeros(2)})


def test_contact_policy_steers_less_as_it_wanders_more() -> None:
    always_steer = _contacts_per_episode("contact", wander=0.0)
    never_steer = _contacts_per_episode("contact", wander=1.0)
    assert always_steer["body"] + always_steer["ledge"] > 1.5 * (never_steer["body"] + never_steer["ledge"])
    with pytest.raises(ConfigError, match="policy.wander"):
        PolicyConfig(name="contact", wander=1.5)
