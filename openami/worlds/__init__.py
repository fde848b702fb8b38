"""Simulated worlds: short names, Gymnasium registration, and a factory.

Importing this package registers the built-in worlds with Gymnasium, so that
``gymnasium.make("openami/TwoRoom-v0")`` (or ``"openami/Maze-v0"``, ``"openami/Physics-v0"``,
``"openami/PushT-v0"``, ``"openami/Reacher-v0"``) works after
``import openami.worlds``.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator

from openami.registry import Registry
from openami.worlds.maze import MazeEnv
from openami.worlds.physics import PhysicsEnv
from openami.worlds.pixels import PixelObservation
from openami.worlds.pusht import PushTEnv
from openami.worlds.reacher import ReacherEnv
from openami.worlds.tworoom import TwoRoomEnv

__all__ = ["WORLDS", "MazeEnv", "PhysicsEnv", "PixelObservation", "PushTEnv", "ReacherEnv", "TwoRoomEnv",
           "builtin_name", "make_world", "parse_factors", "resolve_world_id"]

WORLDS: Registry[str] = Registry("world")
"""Short world name -> Gymnasium id of a built-in world."""

WORLDS.register("tworoom")("openami/TwoRoom-v0")
WORLDS.register("physics")("openami/Physics-v0")
WORLDS.register("maze")("openami/Maze-v0")
WORLDS.register("pusht")("openami/PushT-v0")
WORLDS.register("reacher")("openami/Reacher-v0")

_ENTRY_POINTS = {
    "openami/TwoRoom-v0": "openami.worlds.tworoom:TwoRoomEnv",
    "openami/Physics-v0": "openami.worlds.physics:PhysicsEnv",
    "openami/PushT-v0": "openami.worlds.pusht:PushTEnv",
    "openami/Reacher-v0": "openami.worlds.reacher:ReacherEnv",
    "openami/Maze-v0": "openami.worlds.maze:MazeEnv",
}
for _world_id, _entry_point in _ENTRY_POINTS.items():
    if _world_id not in gymnasium.registry:  # re-imports (importlib.reload, tests) must not register twice
        # Reward-free worlds: the caller bounds episodes.
        gymnasium.register(id=_world_id, entry_point=_entry_point, max_episode_steps=None)


def _builtin_ids() -> set[str]:
    return {WORLDS.get(name) for name in WORLDS}


def builtin_name(world: str) -> str | None:
    """The short name of a built-in world given by short name or Gymnasium id; None for any other world."""
    if world in WORLDS:
        return world
    return next((name for name in WORLDS if WORLDS.get(name) == world), None)


def resolve_world_id(name: str) -> str:
    """The Gymnasium id for a short world name, or ``name`` itself if Gymnasium knows it."""
    if name in WORLDS:
        return WORLDS.get(name)
    if ("/" in name or "-v" in name) and name in gymnasium.registry:
        return name
    match = difflib.get_close_matches(name, WORLDS.names(), n=1)
    hint = f" (did you mean {match[0]!r}?)" if match else ""
    message = (
        f"unknown world {name!r}{hint}. Built-in worlds: {', '.join(WORLDS.names())}. Any installed "
        "Gymnasium id with render_mode='rgb_array' and a Box action space also works (e.g. 'Pendulum-v1')"
    )
    if "/" in name or "-v" in name:
        gym_match = difflib.get_close_matches(name, list(gymnasium.registry), n=1)
        gym_hint = f"; did you mean {gym_match[0]!r}?" if gym_match else ""
        message += f"; {name!r} is not a registered Gymnasium id{gym_hint}"
    raise KeyError(message)


def make_world(name: str, size: int = 64, **kwargs: Any) -> gymnasium.Env:
    """Build a world by short name or Gymnasium id, observing size x size RGB uint8 images.

    Built-in worlds render at ``size`` themselves; any other Gymnasium env is wrapped in
    :class:`PixelObservation`. ``kwargs`` go to the env's constructor.
    """
    world_id = resolve_world_id(name)
    if world_id in _builtin_ids():
        return gymnasium.make(world_id, render_mode="rgb_array", size=size, **kwargs)
    env = gymnasium.make(world_id, render_mode="rgb_array", **kwargs)
    if not isinstance(env.action_space, spaces.Box):
        kind = type(env.action_space).__name__
        env.close()
        raise ValueError(
            f"{world_id} has a {kind} action space; openami worlds need a continuous Box action "
            "space (pick an env with continuous actions, e.g. 'Pendulum-v1')"
        )
    return PixelObservation(env, size=size)


def parse_factors(world: str, shifts: list[str]) -> dict[str, Any]:
    """``["block_colour=200,60,60", "block_scale=1.2"]`` -> constructor arguments, checked against the world's factors.

    A value with commas is a tuple of numbers (a colour), else one number.
    """
    world_id = resolve_world_id(world)
    entry_point = gymnasium.spec(world_id).entry_point
    env_class = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    factors: dict[str, str] = getattr(env_class, "factors", {})
    if not factors:
        raise ValueError(f"{world_id} has no factors of variation to shift (PushT and Reacher have them)")
    out: dict[str, Any] = {}
    for shift in shifts:
        name, sep, value = shift.partition("=")
        name = name.strip()
        if not sep or name not in factors:
            listing = "; ".join(f"{k}: {v}" for k, v in factors.items())
            raise ValueError(f"--vary {shift!r}: expected NAME=VALUE with NAME one of {listing}")
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"--vary {shift!r}: the value must be a number or comma-separated numbers") from None
        out[name] = tuple(numbers) if len(numbers) > 1 else numbers[0]
    try:  # build the shifted world once, so a bad value fails here and not after earlier evaluations
        env_class(**out).close()
    except (ValueError, TypeError) as error:
        raise ValueError(f"--vary {', '.join(shifts)}: {error}") from None
    return out
