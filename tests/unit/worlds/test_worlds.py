"""Contract tests for every registered world, TwoRoom physics, and the pixel adapter."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from openami.worlds import WORLDS, PixelObservation, make_world, resolve_world_id
from openami.worlds.tworoom import AGENT_RADIUS, DOOR_Y, MAX_STEP, WALL_X, TwoRoomEnv

# ---- every registered world -----------------------------------------------------


@pytest.mark.parametrize("name", WORLDS.names())
def test_check_env(name: str) -> None:
    env = make_world(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    env.close()


@pytest.mark.parametrize("name", WORLDS.names())
def test_determinism(name: str) -> None:
    envs = [make_world(name), make_world(name)]
    actions = np.random.default_rng(0).uniform(-1, 1, (50, *envs[0].action_space.shape))
    results = [[env.reset(seed=7)] for env in envs]
    for env, result in zip(envs, results, strict=True):
        for action in actions.astype(np.float32):
            obs, _, _, _, info = env.step(action)
            result.append((obs, info))
    for (obs_a, info_a), (obs_b, info_b) in zip(*results, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(info_a["state"], info_b["state"])


@pytest.mark.parametrize("name", WORLDS.names())
@pytest.mark.parametrize("size", [64, 32])
def test_observation_shape(name: str, size: int) -> None:
    env = make_world(name, size=size)
    assert env.observation_space.shape == (size, size, 3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8
    assert info["state"].dtype == np.float32
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8
    np.testing.assert_array_equal(env.render(), obs)


# ---- TwoRoom physics -------------------------------------------------------------


def _env() -> TwoRoomEnv:
    return TwoRoomEnv(render_mode="rgb_array", size=32)


def _push(env: TwoRoomEnv, action: tuple[float, float], steps: int) -> np.ndarray:
    for _ in range(steps):
        _, _, _, _, info = env.step(np.array(action, dtype=np.float32))
    return info["state"]


def test_wall_blocks_outside_door() -> None:
    env = _env()
    env.reset(options={"state": [0.3, 0.2]})
    x, y = _push(env, (1, 0), 100)
    assert x < WALL_X and y == pytest.approx(0.2)
    # Pushing diagonally slides along the wall face instead of sticking to it.
    x, y = _push(env, (1, 1), 5)
    assert x < WALL_X and y == pytest.approx(0.2 + 5 * MAX_STEP, abs=1e-6)


def test_door_lets_agent_through() -> None:
    env = _env()
    _, info = env.reset(options={"state": [0.3, DOOR_Y]})
    assert info["room"] == 0
    x, _ = _push(env, (1, 0), 20)
    assert x > WALL_X and env.room_of((x, DOOR_Y)) == 1
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["room"] == 1


def test_agent_stays_in_arena() -> None:
    env = _env()
    for start, action in [((0.2, 0.2), (-1, -1)), ((0.8, 0.8), (1, 1)), ((0.2, 0.8), (-1, 1))]:
        env.reset(options={"state": start})
        x, y = _push(env, action, 100)
        for v in (x, y):
            assert AGENT_RADIUS - 1e-6 <= v <= 1 - AGENT_RADIUS + 1e-6


def test_random_walk_is_bounded_and_stays_free() -> None:
    env, replay = _env(), _env()
    _, info = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for action in rng.uniform(-1.5, 1.5, (2000, 2)):  # out-of-range actions are clipped
        prev = info["state"]
        obs, reward, terminated, truncated, info = env.step(action)
        assert np.all(np.abs(info["state"] - prev) <= MAX_STEP + 1e-6)
        assert env.is_free(info["state"]) and reward == 0.0 and not (terminated or truncated)
        # Any reported state, walls and borders included, is a valid reset state.
        replay_obs, replay_info = replay.reset(options={"state": info["state"]})
        np.testing.assert_array_equal(replay_info["state"], info["state"])
        np.testing.assert_array_equal(replay_obs, obs)


def test_reset_state_option() -> None:
    env = _env()
    _, info = env.reset(options={"state": [0.123, 0.789]})
    np.testing.assert_array_equal(info["state"], np.array([0.123, 0.789], np.float32))
    for bad in ([0.5, 0.2], [0.0, 0.5], [1.2, 0.5], [0.2, 0.3, 0.4]):
        with pytest.raises(ValueError, match="not a free position"):
            env.reset(options={"state": bad})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"goal": [0.2, 0.2]})


def test_render_state_matches_observation_and_moves() -> None:
    env = _env()
    obs, info = env.reset(seed=1)
    np.testing.assert_array_equal(env.render_state(info["state"]), obs)
    before = info["state"].copy()
    other = env.render_state([0.8, 0.8])
    np.testing.assert_array_equal(env._info()["state"], before)  # render_state leaves the env alone
    assert not np.array_equal(other, obs)
    moved, *_ = env.step(np.array([1.0, 1.0], np.float32))
    assert not np.array_equal(moved, obs)


def test_sample_free_position() -> None:
    rng = np.random.default_rng(0)
    for room in (0, 1, None):
        for _ in range(200):
            p = TwoRoomEnv.sample_free_position(rng, room)
            assert p.dtype == np.float32 and TwoRoomEnv.is_free(p)
            assert abs(p[0] - WALL_X) > 0.04  # never in the doorway
            if room is not None:
                assert TwoRoomEnv.room_of(p) == room
    with pytest.raises(ValueError, match="room"):
        TwoRoomEnv.sample_free_position(rng, 2)


def test_reset_seed_determinism_covers_both_rooms() -> None:
    env = _env()
    rooms = {env.reset(seed=s)[1]["room"] for s in range(20)}
    assert rooms == {0, 1}
    np.testing.assert_array_equal(env.reset(seed=5)[0], _env().reset(seed=5)[0])


# ---- factory and adapter ---------------------------------------------------------


class _SquareEnv(gymnasium.Env):
    """A Box-action env whose frame is a 100x60 image: tests the adapter without pygame."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = "rgb_array") -> None:
        self.render_mode = render_mode
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.observation_space = spaces.Box(-10, 10, (2, 2), np.float64)
        self._v = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._v = float(self.np_random.uniform(-1, 1))
        return np.full((2, 2), self._v), {"extra": 1}

    def step(self, action):
        self._v += float(action[0])
        return np.full((2, 2), self._v), 1.0, False, False, {}

    def render(self):
        frame = np.zeros((100, 60, 3), np.uint8)
        frame[:, :30] = 200
        return frame


def test_pixel_adapter_on_dummy_env() -> None:
    env = PixelObservation(_SquareEnv(), size=20)
    obs, info = env.reset(seed=0)
    assert obs.shape == (20, 20, 3) and obs.dtype == np.uint8
    assert info["state"].shape == (4,) and info["state"].dtype == np.float32 and info["extra"] == 1
    assert obs[:, :8].min() > 150 and obs[:, 12:].max() < 50  # left half bright, right half dark
    obs, reward, *_, info = env.step(np.array([0.5], np.float32))
    assert obs.shape == (20, 20, 3) and reward == 1.0 and info["state"].shape == (4,)
    with pytest.raises(ValueError, match="rgb_array"):
        PixelObservation(_SquareEnv(render_mode=None))


def test_make_world_pendulum() -> None:
    pytest.importorskip("pygame", reason="Pendulum renders with pygame (gymnasium[classic_control])")
    env = make_world("Pendulum-v1", size=32)
    obs, info = env.reset(seed=0)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8 and info["state"].shape == (3,)
    obs, _, _, _, info = env.step(env.action_space.sample())
    assert obs.shape == (32, 32, 3) and info["state"].shape == (3,)
    env.close()


def test_make_world_refuses_discrete_actions() -> None:
    with pytest.raises(ValueError, match="CartPole-v1.*Box"):
        make_world("CartPole-v1")


def test_unknown_names() -> None:
    with pytest.raises(KeyError, match="tworoom"):
        make_world("no-such-world")
    with pytest.raises(KeyError, match="Pendulum-v1"):
        resolve_world_id("Pendulm-v1")
    assert resolve_world_id("tworoom") == "openami/TwoRoom-v0"
    assert resolve_world_id("openami/TwoRoom-v0") == "openami/TwoRoom-v0"
    assert resolve_world_id("Pendulum-v1") == "Pendulum-v1"
