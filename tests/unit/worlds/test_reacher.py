"""Reacher: MuJoCo physics and headless rendering, state round trips, its protocol."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from openami.evaluation.protocols import PROTOCOLS
from openami.worlds import make_world
from openami.worlds.reacher import ELBOW_LIMIT, joint_errors


def _renders() -> str | None:
    """Why MuJoCo cannot render here (no OpenGL context), or None when it can."""
    env = make_world("reacher", size=16).unwrapped  # builds the MuJoCo model: a failure here is a real failure
    try:
        renderer = env._mj.Renderer(env._model, 16, 16)
    except Exception as error:  # noqa: BLE001 - any failure to get a GL context means: skip, and say why
        return f"{type(error).__name__}: {error}"
    renderer.close()
    return None


_WHY = _renders()
pytestmark = pytest.mark.skipif(
    _WHY is not None, reason=f"MuJoCo cannot render on this machine (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {_WHY}")


def test_check_env_and_registration() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_world("reacher", size=32).unwrapped)
    assert [str(w.message) for w in caught] == []
    obs, info = make_world("reacher", size=48).reset(seed=1)
    assert obs.shape == (48, 48, 3) and info["state"].shape == (4,)


def test_torques_move_the_joints_and_the_elbow_is_limited() -> None:
    env = make_world("reacher", size=32)
    env.reset(options={"state": [0.0, 0.0, 0.0, 0.0]})
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([1.0, -1.0]))
    shoulder, elbow, v_shoulder, v_elbow = info["state"]
    assert shoulder > 0.05 and elbow < -0.05 and v_shoulder > 0 and v_elbow < 0
    for _ in range(300):
        _, _, _, _, info = env.step(np.array([0.0, -1.0]))
    assert info["state"][1] > -ELBOW_LIMIT - 0.1  # the joint limit holds (within MuJoCo's soft constraint)
    assert -math.pi < info["state"][0] <= math.pi


def test_render_state_is_pure_and_matches_observation() -> None:
    env = make_world("reacher", size=32).unwrapped
    obs, info = env.reset(seed=4)
    for _ in range(5):
        obs, _, _, _, info = env.step(np.array([0.5, 0.5]))
    other = env.render_state(np.array([1.0, 1.0, 0.0, 0.0]))
    assert not np.array_equal(other, obs)
    assert np.array_equal(env.render_state(info["state"]), obs)
    assert np.array_equal(env.render(), obs)  # drawing another state left the episode alone
    again, _ = env.reset(options={"state": info["state"]})
    assert np.array_equal(again, obs)
    with pytest.raises(ValueError, match="elbow"):
        env.reset(options={"state": [0.0, 3.0, 0.0, 0.0]})


def test_arm_colour_is_a_factor() -> None:
    plain = make_world("reacher", size=32).unwrapped
    blue = make_world("reacher", size=32, arm_colour=(40, 90, 220)).unwrapped
    state = np.array([0.3, -0.7, 0.0, 0.0])
    assert not np.array_equal(plain.render_state(state), blue.render_state(state))


def test_protocol_judges_both_joints_and_its_starts_reset() -> None:
    protocol = PROTOCOLS.get("reacher-offset25")
    env = make_world("reacher", size=16)
    for task in protocol.tasks(env, 3):  # task 0 starts with the elbow just past its (soft) limit
        env.reset(options={"state": task.start})
        env.reset(options={"state": task.goal})
    goal = np.array([math.pi - 0.01, 0.5, 0.0, 0.0])
    assert protocol.judge(np.array([-math.pi + 0.02, 0.54, 3.0, 3.0]), goal)[0]  # wraps; velocity not judged
    assert not protocol.judge(np.array([goal[0], 0.56, 0.0, 0.0]), goal)[0]
    assert np.allclose(joint_errors([0.1, 0.2, 0, 0], [0.0, 0.0, 0, 0]), [0.1, 0.2])


def test_collection_workers_fork_after_the_parent_rendered(tmp_path) -> None:
    # Mesa's rasteriser threads do not survive fork: with them, forked collection workers hung forever
    # once the parent had rendered a frame. A fresh interpreter, so the module itself must prevent it.
    script = ("from openami.data.collect import collect\nfrom openami.worlds import make_world\n"
              "make_world('reacher', size=16).reset(seed=0)\n"
              f"collect('reacher', 2, {str(tmp_path / 'data')!r}, episode_length=4, size=16, episodes_per_shard=1,"
              " workers=2, progress=False)\n")
    env = {k: v for k, v in os.environ.items() if k != "LP_NUM_THREADS"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # its own process group, so a hang's workers die with it
    try:
        _, stderr = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail("collection workers hung after the parent process rendered a Reacher frame")
    assert child.returncode == 0, stderr
    assert (tmp_path / "data" / "manifest.json").is_file()
