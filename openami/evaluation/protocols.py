"""Named, frozen, versioned planning protocols: which tasks, what budget, what counts.

Changing how a protocol draws its tasks or judges success changes its numbers:
bump its version and say so in the README, never edit it in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from openami.data.collect import rollout_policy
from openami.data.policies import PolicyConfig
from openami.registry import Registry
from openami.worlds.pusht import ANGLE_TOLERANCE, POSITION_TOLERANCE, pose_errors
from openami.worlds.reacher import JOINT_TOLERANCE, joint_errors

# Training collections seed episode i with seed + i for small seeds; evaluation
# tasks are drawn from seeds at and above this, which training never uses.
EVAL_SEED = 1_000_000


@dataclass(frozen=True)
class Task:
    start: np.ndarray  # true state to start from
    goal: np.ndarray  # true state whose observation is the goal image


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    world: str
    episodes: int
    budget: int
    """World steps the agent may take."""
    success_radius: float
    """Success when the agent comes this close to the goal position (fraction of arena width)."""
    description: str
    draw_tasks: Callable[[gym.Env, int], list[Task]]
    """(env, number of episodes) -> tasks, deterministic."""
    judge: Callable[[np.ndarray, np.ndarray], tuple[bool, float]] | None = None
    """(state, goal state) -> (success, distance) for worlds where being near the goal is more than a
    position; None: success when the first coordinates are within ``success_radius`` x arena width."""

    def tasks(self, env: gym.Env, episodes: int | None = None) -> list[Task]:
        return self.draw_tasks(env, self.episodes if episodes is None else episodes)


PROTOCOLS: Registry = Registry("protocol")

# Same exploration policy as the default collection, frozen here so the protocol
# does not move when the defaults do.
_OFFSET_POLICY = PolicyConfig(name="momentum", momentum=0.9, scale=1.0)
_OFFSET_EPISODE_LENGTH = 100
_OFFSET = 25


def _offset_tasks(env: gym.Env, n: int, policy: PolicyConfig = _OFFSET_POLICY) -> list[Task]:
    """Start at a random step of a held-out episode of ``policy``; goal = the state 25 steps later."""
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    tasks = []
    for i in range(n):
        seed = EVAL_SEED + i
        _, _, states = rollout_policy(env, policy, low, high, seed, _OFFSET_EPISODE_LENGTH)
        start = int(np.random.default_rng(seed).integers(0, len(states) - _OFFSET))
        tasks.append(Task(states[start].copy(), states[start + _OFFSET].copy()))
    return tasks


def _cross_tasks(env: gym.Env, n: int) -> list[Task]:
    """Start uniformly in one room (alternating), goal uniformly in the other."""
    world = env.unwrapped
    tasks = []
    for i in range(n):
        rng = np.random.default_rng(EVAL_SEED + 500_000 + i)
        room = i % 2
        start = world.sample_free_position(rng, room=room)
        goal = world.sample_free_position(rng, room=1 - room)
        tasks.append(Task(np.asarray(start, np.float32), np.asarray(goal, np.float32)))
    return tasks


PROTOCOLS.register("tworoom-offset25")(Protocol(
    name="tworoom-offset25", version=1, world="openami/TwoRoom-v0", episodes=100, budget=50,
    success_radius=16 / 224,
    description="Comparable to LeWorldModel's TwoRoom protocol: start at a random step of a held-out "
                "episode (seed >= 1e6), goal = the observation 25 steps later; 50-step budget; success "
                "within 16/224 of the arena width of the goal position at any step.",
    draw_tasks=_offset_tasks))

PROTOCOLS.register("tworoom-cross")(Protocol(
    name="tworoom-cross", version=1, world="openami/TwoRoom-v0", episodes=100, budget=200,
    success_radius=16 / 224,
    description="Start uniformly in one room, goal uniformly in the other; the way leads through the "
                "door, so greedy straight-line motion fails. 200-step budget; same success test.",
    draw_tasks=_cross_tasks))

FAR_MIN_STEPS = 100


def _far_tasks(env: gym.Env, n: int) -> list[Task]:
    """Start and goal drawn uniformly in the maze, kept when the shortest way between them is >= 100 steps."""
    world = env.unwrapped
    rng = np.random.default_rng(EVAL_SEED + 700_000)
    tasks: list[Task] = []
    while len(tasks) < n:
        start, goal = world.sample_free_position(rng), world.sample_free_position(rng)
        if world.path_steps(start, goal) >= FAR_MIN_STEPS:
            tasks.append(Task(start, goal))
    return tasks


PROTOCOLS.register("maze-far")(Protocol(
    name="maze-far", version=1, world="openami/Maze-v0", episodes=100, budget=400,
    success_radius=0.05,
    description="Maze ('classic' 3x3 rooms): start and goal uniform, kept when the shortest way between "
                "them is at least 100 steps (through several doors); 400-step budget; success within 0.05 "
                "of the arena width of the goal position (closer than a wall's width) at any step.",
    draw_tasks=_far_tasks))


# PushT's data policy with its defaults, frozen here for the same reason as _OFFSET_POLICY.
_PUSHT_POLICY = PolicyConfig(name="pusht", momentum=0.9, scale=1.0)


def _pusht_judge(state: np.ndarray, goal: np.ndarray) -> tuple[bool, float]:
    position, angle = pose_errors(state, goal)
    return position < POSITION_TOLERANCE and angle < ANGLE_TOLERANCE, position


PROTOCOLS.register("pusht-offset25")(Protocol(
    name="pusht-offset25", version=1, world="openami/PushT-v0", episodes=100, budget=50,
    success_radius=20 / 512,
    description="LeWorldModel's PushT protocol: start at a random step of a held-out episode of the data "
                "policy (seed >= 1e6), goal = the observation 25 steps later; 50-step budget; success when "
                "pusher and block positions together (one norm over pusher x, y and block x, y, as in "
                "DINO-WM's and stable-worldmodel's PushT) are within 20 units (of a 512-unit table) of the "
                "goal's and the block's angle within pi/9, at any step.",
    draw_tasks=lambda env, n: _offset_tasks(env, n, _PUSHT_POLICY), judge=_pusht_judge))


def _reacher_judge(state: np.ndarray, goal: np.ndarray) -> tuple[bool, float]:
    errors = joint_errors(state, goal)
    return bool(np.all(errors < JOINT_TOLERANCE)), float(errors.max())


PROTOCOLS.register("reacher-offset25")(Protocol(
    name="reacher-offset25", version=1, world="openami/Reacher-v0", episodes=100, budget=50,
    success_radius=0.05 / (2 * np.pi),
    description="LeWorldModel's offset protocol on openami's Reacher arm: start at a random step of a held-out "
                "episode of the data policy (momentum random torques, seed >= 1e6), goal = the observation 25 "
                "steps later; 50-step budget; success when both joint angles are within 0.05 rad of the goal's "
                "at any step (velocities are not judged).",
    draw_tasks=_offset_tasks, judge=_reacher_judge))
