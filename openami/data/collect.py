"""Collect reward-free trajectories from a world into a sharded dataset."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from openami.data.policies import POLICIES, PolicyConfig
from openami.data.writer import DatasetWriter
from openami.worlds import make_world, resolve_world_id


def collect(world: str, episodes: int, out: str | Path, *, episode_length: int = 100, size: int = 64,
            seed: int = 0, policy: PolicyConfig | None = None, episodes_per_shard: int = 50,
            resume: bool = False, progress: bool = True) -> Path:
    """Run `episodes` episodes of the exploration policy and write them to `out`.

    Episode i is seeded with seed + i, so a resumed collection produces exactly
    the episodes an uninterrupted one would have.
    """
    if episodes <= 0 or episode_length <= 1:
        raise ValueError(f"need episodes > 0 and episode_length > 1, got {episodes} and {episode_length}")
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
        for i in range(first, episodes):
            pixels, actions, states = rollout_policy(env, policy, low, high, seed + i, episode_length)
            writer.add_episode(pixels, actions, states)
            bar.update(1)
    env.close()
    return Path(out)


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
        actions[t] = act()
        obs, _, terminated, truncated, info = env.step(actions[t])
        if terminated or truncated:
            pixels[t + 1], states[t + 1] = obs, np.asarray(info["state"], dtype=np.float32).ravel()
            return pixels[: t + 2], actions[: t + 2], states[: t + 2]
    return pixels, actions, states
