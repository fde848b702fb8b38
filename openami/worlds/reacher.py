"""Reacher: a two-joint arm on a table, simulated and rendered by MuJoCo, seen from above.

The arm's shoulder turns freely; its elbow is limited to ±2.8 rad so the forearm never folds
through the upper arm. Actions are the two joints' torques in [-1, 1]. ``info["state"]`` is
``(shoulder angle, elbow angle, shoulder velocity, elbow velocity)``, angles in radians (the
shoulder's wrapped to (-π, π]).

Rendering is MuJoCo's own, off screen: on a machine without a display MuJoCo needs an OpenGL
context from EGL (Mesa's software EGL works on a bare CPU machine), so on Linux this module
sets ``MUJOCO_GL=egl`` unless the environment already chose a backend. Shadows and reflections are
off: they cost 3x the frame time and show nothing a world model needs. Mesa's software rasteriser
runs in the calling thread (``LP_NUM_THREADS=0`` unless set): its worker threads do not survive
a fork, so a process that had rendered and then forked collection workers hung them forever, and
64×64 frames render no slower without them.
Factors of variation: ``arm_colour`` and ``background``.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from openami.worlds.checks import action_array, check_render_args, rgb, state_option, wrap_angle

FRAME_SKIP = 2
"""MuJoCo steps of 0.01 s per env step (the env runs at 50 steps per second)."""
ELBOW_LIMIT = 2.8
"""The elbow's range is [-ELBOW_LIMIT, ELBOW_LIMIT] rad."""
ARM_COLOUR = (214, 40, 40)
"""RGB of both links."""
BACKGROUND = (238, 236, 228)
"""RGB of the table."""
STATE_FIELDS = ("shoulder", "elbow", "shoulder_velocity", "elbow_velocity")
"""Fields of ``info["state"]``."""
JOINT_TOLERANCE = 0.05
"""Success: every joint within this many radians of the goal's."""

_MJCF = """
<mujoco model="openami-reacher">
  <compiler angle="radian"/>
  <option timestep="0.01" integrator="RK4"/>
  <visual><quality shadowsize="0"/><headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5" specular="0 0 0"/></visual>
  <default>
    <joint damping="0.05" armature="0.001"/>
    <geom contype="0" conaffinity="0" density="1000"/>
  </default>
  <worldbody>
    <geom name="table" type="plane" size="0.25 0.25 0.01" rgba="{background}"/>
    <geom name="hub" type="cylinder" fromto="0 0 0 0 0 0.02" size="0.018" rgba="0.25 0.25 0.3 1"/>
    <body name="upper" pos="0 0 0.02">
      <joint name="shoulder" type="hinge" axis="0 0 1"/>
      <geom type="capsule" fromto="0 0 0 0.1 0 0" size="0.013" rgba="{arm}"/>
      <body name="lower" pos="0.1 0 0.005">
        <joint name="elbow" type="hinge" axis="0 0 1" limited="true" range="-{limit} {limit}"/>
        <geom type="capsule" fromto="0 0 0 0.1 0 0" size="0.013" rgba="{arm}"/>
        <geom name="fingertip" type="sphere" pos="0.1 0 0" size="0.02" rgba="0.15 0.15 0.2 1"/>
      </body>
    </body>
    <camera name="above" pos="0 0 0.6" xyaxes="1 0 0 0 1 0" fovy="{fovy}"/>
  </worldbody>
  <actuator>
    <motor joint="shoulder" gear="0.15" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="elbow" gear="0.1" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""
_VIEW_HALF_WIDTH = 0.24  # the camera sees [-0.24, 0.24]²: the arm reaches 0.22
_LIMIT_SLACK = 0.1  # MuJoCo's joint limits are soft: a driven elbow goes a little past them, and such states recur


def _rgba(value: Any, name: str) -> str:
    return " ".join(f"{v / 255:.4f}" for v in rgb(value, name)) + " 1"


def _mujoco():
    """Import MuJoCo with a headless OpenGL backend chosen (on Linux, EGL unless MUJOCO_GL says otherwise)."""
    if sys.platform.startswith("linux"):  # macOS and Windows render off screen with their own GL
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("LP_NUM_THREADS", "0")  # see the module docstring: forked workers
    try:
        import mujoco
    except ImportError:
        raise ImportError("the Reacher world needs MuJoCo: pip install mujoco") from None
    return mujoco


def joint_errors(state: Any, goal: Any) -> np.ndarray:
    """Absolute angle error of each joint (rad, wrapped) between two states."""
    state, goal = np.asarray(state, np.float64), np.asarray(goal, np.float64)
    return np.abs(wrap_angle(state[:2] - goal[:2]))


class ReacherEnv(gymnasium.Env):
    """Move a two-joint arm with joint torques; observations are MuJoCo renders from above.

    Reward-free and never terminating: the caller bounds episodes.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    arena_width: float = 2 * math.pi
    factors = {"arm_colour": "RGB of the arm's links, e.g. 40,90,220", "background": "RGB of the table"}
    """Factors of variation: constructor arguments that `ami eval plan --vary NAME=VALUE` may shift."""

    def __init__(self, render_mode: str | None = None, size: int = 64, arm_colour: Any = ARM_COLOUR,
                 background: Any = BACKGROUND) -> None:
        check_render_args(render_mode, size)
        mujoco = self._mj = _mujoco()
        self.render_mode, self.size = render_mode, int(size)
        fovy = math.degrees(2 * math.atan(_VIEW_HALF_WIDTH / 0.6))
        xml = _MJCF.format(background=_rgba(background, "background"), arm=_rgba(arm_colour, "arm_colour"),
                           limit=ELBOW_LIMIT, fovy=f"{fovy:.4f}")
        self._model = mujoco.MjModel.from_xml_string(xml)
        self._data = mujoco.MjData(self._model)
        self._scratch = mujoco.MjData(self._model)  # render_state draws here, leaving the episode alone
        self._renderer: Any = None  # made on first use: an OpenGL context per env
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self._frame: np.ndarray | None = None

    @property
    def state(self) -> np.ndarray:
        q, v = self._data.qpos, self._data.qvel
        return np.array([wrap_angle(q[0]), q[1], v[0], v[1]], dtype=np.float32)

    def _set(self, data: Any, state: np.ndarray) -> None:
        data.qpos[:] = state[:2]
        data.qvel[:] = state[2:4]
        data.ctrl[:] = 0.0
        self._mj.mj_forward(self._model, data)

    def render_state(self, state: Any) -> np.ndarray:
        """The image of a state (4,), without touching the env: uint8 (H, W, 3)."""
        state = np.asarray(state, np.float64).reshape(4)
        self._set(self._scratch, state)
        return self._draw(self._scratch)

    def _draw(self, data: Any) -> np.ndarray:
        if self._renderer is None:
            self._renderer = self._mj.Renderer(self._model, self.size, self.size)
        self._renderer.update_scene(data, camera="above")
        flags = self._renderer.scene.flags
        for flag in (self._mj.mjtRndFlag.mjRND_SHADOW, self._mj.mjtRndFlag.mjRND_REFLECTION):
            flags[flag] = False
        return self._renderer.render().copy()

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._frame is None:
            self._frame = self.render_state(self.state)
        return self._frame

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Random joint angles at rest, or ``options["state"]`` (4 numbers as in ``info["state"]``)."""
        super().reset(seed=seed)
        state = state_option(options, STATE_FIELDS)
        if state is not None:
            if abs(state[1]) > ELBOW_LIMIT + _LIMIT_SLACK:
                raise ValueError(f"reset elbow angle {state[1]:.3f} is outside ±{ELBOW_LIMIT + _LIMIT_SLACK:.1f} rad "
                                 f"(the limit {ELBOW_LIMIT} plus the {_LIMIT_SLACK} a driven elbow overshoots it)")
        else:
            rng = self.np_random
            state = np.array([rng.uniform(-math.pi, math.pi), rng.uniform(-ELBOW_LIMIT, ELBOW_LIMIT), 0.0, 0.0])
        self._mj.mj_resetData(self._model, self._data)
        self._set(self._data, state)
        self._frame = self.render_state(self.state)  # drawn from the reported state, as render_state draws it
        return self._frame, {"state": self.state}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the torques (clipped to [-1, 1]) for FRAME_SKIP MuJoCo steps; reward is always 0."""
        self._data.ctrl[:] = np.clip(action_array(action), -1.0, 1.0)
        self._mj.mj_step(self._model, self._data, nstep=FRAME_SKIP)
        self._frame = self.render_state(self.state)
        return self._frame, 0.0, False, False, {"state": self.state}

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
