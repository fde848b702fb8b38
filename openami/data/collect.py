"""Collect reward-free trajectories from a world into a sharded dataset."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from openami.data.policies import POLICIES, PolicyConfig
from openami.data.writer import DatasetWriter, write_shard
from openami.worlds import make_world, resolve_world_id

BACKENDS = ("process", "ray")


def collect(world: str, episodes: int, out: str | Path, *, episode_length: int = 100, size: int = 64,
            seed: int = 0, policy: PolicyConfig | None = None, episodes_per_shard: int = 50,
            resume: bool = False, progress: bool = True, workers: int = 1, backend: str = "process") -> Path:
    """Run `episodes` episodes of the exploration policy and write them to `out`.

    Episode i is seeded with seed + i, so a resumed collection produces exactly
    the episodes an uninterrupted one would have. With `workers` > 1, worlds run in
    that many processes (backend 'process': a local pool; 'ray': Ray tasks, on many
    machines if Ray is connected to a cluster); each task writes one whole shard and
    the shards join the manifest in episode order, so the dataset is the one a single
    process writes, byte for byte in its arrays.
    """
    if episodes <= 0 or episode_length <= 1:
        raise ValueError(f"need episodes > 0 and episode_length > 1, got {episodes} and {episode_length}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown collection backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    policy = policy or PolicyConfig()
    world_id = resolve_world_id(world)
    env = make_world(world_id, size=size)
    low = np.asarray(env.action_space.low, dtype=np.float64)
    high = np.asarray(env.action_space.high, dtype=np.float64)
    obs, info = env.reset(seed=seed)
    writer = DatasetWriter(
        out, world=world_id, world_kwargs={"size": size}, image_shape=list(obs.shape),
        action_dim=int(low.shape[0]), action_low=low.tolist(), action_high=high.tolist(),
        state_dim=int(np.asarray(info["state"]).size),
        policy={**policy.to_dict(), "episode_length": episode_length},
        seed=seed, episodes_per_shard=episodes_per_shard, resume=resume)
    first = writer.existing_episodes
    with writer, tqdm(total=episodes, initial=min(first, episodes), desc="collect", unit="ep",
                      disable=not progress, dynamic_ncols=True) as bar:
        if workers == 1:
            for i in range(first, episodes):
                pixels, actions, states = rollout_policy(env, policy, low, high, seed + i, episode_length)
                writer.add_episode(pixels, actions, states)
                bar.update(1)
        else:
            tasks = [ShardTask(world_id, size, policy, list(range(start, min(start + episodes_per_shard, episodes))),
                               seed, episode_length, str(Path(out) / f".shard-part-{start:09d}.h5.tmp"))
                     for start in range(first, episodes, episodes_per_shard)]
            for task, shard in zip(tasks, _run_tasks(tasks, workers, backend), strict=True):
                writer.adopt_shard(Path(task.path), shard)
                bar.update(shard["episodes"])
    env.close()
    return Path(out)


@dataclass(frozen=True)
class ShardTask:
    """Episodes for one worker to roll out and write as one shard file."""

    world_id: str
    size: int
    policy: PolicyConfig
    episodes: list[int]
    seed: int
    episode_length: int
    path: str


def collect_shard(task: ShardTask) -> dict[str, Any]:
    """Roll out a task's episodes in a fresh world and write them to task.path (runs in a worker)."""
    env = make_world(task.world_id, size=task.size)
    low = np.asarray(env.action_space.low, dtype=np.float64)
    high = np.asarray(env.action_space.high, dtype=np.float64)
    episodes = [rollout_policy(env, task.policy, low, high, task.seed + i, task.episode_length)
                for i in task.episodes]
    env.close()
    return write_shard(Path(task.path), episodes, list(episodes[0][0].shape[1:]))


def _run_tasks(tasks: list[ShardTask], workers: int, backend: str):
    """Shard entries in task order, computed `workers` at a time."""
    if backend == "ray":
        try:
            import ray
        except ImportError:
            raise ImportError("--backend ray needs Ray: pip install 'openami[ray]'") from None
        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(collect_shard)
        pending = [remote.remote(task) for task in tasks]
        for ref in pending:
            yield ray.get(ref)
        return
    # Workers only step worlds and write HDF5, never touch torch, so forking is safe on Linux, starts
    # at once and needs no `if __name__ == "__main__"` guard in the caller's script; elsewhere, spawn.
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
    try:
        yield from pool.map(collect_shard, tasks)
    finally:  # interrupted: drop the queued shards rather than finish them
        pool.shutdown(wait=True, cancel_futures=True)


def rollout_policy(env: gym.Env, policy: PolicyConfig, low: np.ndarray, high: np.ndarray, seed: int,
             length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One episode of the policy from reset(seed): pixels (L,H,W,C), actions (L,A), states (L,S)."""
    obs, info = env.reset(seed=seed)
    act = POLICIES.get(policy.name)(policy, low, high, np.random.default_rng(seed))
    pixels = np.empty((length, *obs.shape), dtype=np.uint8)
    states = np.empty((length, np.asarray(info["state"]).size), dtype=np.float32)
    actions = np.zeros((length, low.shape[0]), dtype=np.float32)
    for t in range(length):
        pixels[t], states[t] = obs, np.asarray(info["state"], dtype=np.float32).ravel()
        if t + 1 == length:
            break  # the last frame's action is never applied and stays zero
        actions[t] = act(info)
        obs, _, terminated, truncated, info = env.step(actions[t])
        if terminated or truncated:
            pixels[t + 1], states[t + 1] = obs, np.asarray(info["state"], dtype=np.float32).ravel()
            return pixels[: t + 2], actions[: t + 2], states[: t + 2]
    return pixels, actions, states
