"""Experience on disk: immutable HDF5 shards of whole episodes plus an atomic manifest.

A dataset is a directory::

    manifest.json        schema version, world, spaces, policy, per-shard sha256, counts
    shard-00000.h5       pixels uint8[N,H,W,C], action float32[N,A], state float32[N,S],
    shard-00001.h5       episode_length int64[E], episode_offset int64[E] (row within the shard)

An episode of L frames has L rows; ``action[t]`` is the action taken after observing frame t,
so the last row of an episode holds zeros (an action that was never applied). Shards are
written to a hidden temporary name and renamed into place, and the manifest is rewritten
after every shard, so an interrupted collection leaves a valid dataset of its complete shards.
This module reads and verifies datasets; `openami.data.writer` writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.h5$")
_HASH_BLOCK = 1 << 20
# Settings that must agree between a dataset and a collection that resumes it.
_RESUME_KEYS = (
    "world",
    "world_kwargs",
    "image_shape",
    "action_dim",
    "action_low",
    "action_high",
    "state_dim",
    "policy",
    "seed",
)
_REQUIRED_KEYS = (*_RESUME_KEYS, "schema_version", "shards", "episodes", "frames", "created")


class DatasetError(Exception):
    """A dataset directory is missing, incomplete or damaged."""


def _resume_hint(root: Path) -> str:
    return f"re-run `ami collect --out {root} --resume`"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed `manifest.json` of the dataset in `root`, checked for schema and fields."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(f"no {MANIFEST} in {root}: is this a dataset made by `ami collect`?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(
            f"{path} is not valid JSON ({e}); the dataset's manifest is damaged, re-collect it"
        ) from None
    if not isinstance(manifest, dict):
        raise DatasetError(f"{path} does not hold a JSON object; re-collect the dataset")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"{path} has schema_version {version!r}, but this openami reads version {SCHEMA_VERSION}; "
            "use the openami version that made it, or re-collect the dataset"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise DatasetError(f"{path} lacks the fields {', '.join(missing)}; re-collect the dataset")
    return manifest


def verify_dataset(root: str | os.PathLike[str]) -> None:
    """Check that every shard the manifest lists exists and has its recorded sha256."""
    root = Path(root)
    for shard in read_manifest(root)["shards"]:
        _verify_shard(root, shard)


def _verify_shard(root: Path, shard: Mapping[str, Any]) -> None:
    path = root / shard["file"]
    if not path.is_file():
        raise DatasetError(
            f"{path} is listed in {root / MANIFEST} but missing; {_resume_hint(root)} to collect "
            "its episodes again"
        )
    got = _sha256(path)
    if got == shard["sha256"]:
        return
    size, expected_size = path.stat().st_size, shard.get("bytes")
    if expected_size is not None and size < expected_size:
        what = f"truncated ({size} bytes, expected {expected_size})"
    else:
        what = "altered"
    raise DatasetError(
        f"{path} is {what}: expected sha256 {shard['sha256'][:12]}..., got {got[:12]}...; "
        f"delete it and {_resume_hint(root)} to collect its episodes again"
    )


class Experience:
    """Episodes in memory: arrays concatenated over episodes, and the manifest describing them."""

    def __init__(
        self,
        manifest: dict[str, Any],
        pixels: np.ndarray,  # (N, H, W, C) uint8
        action: np.ndarray,  # (N, A) float32
        state: np.ndarray,  # (N, S) float32
        episode_length: np.ndarray,  # (E,) int64
        episode_offset: np.ndarray,  # (E,) int64, first row of each episode
        root: Path | None = None,
    ) -> None:
        n = len(pixels)
        if len(action) != n or len(state) != n:
            raise ValueError(f"pixels, action and state have {n}, {len(action)}, {len(state)} rows")
        if len(episode_length) != len(episode_offset):
            raise ValueError("episode_length and episode_offset differ in length")
        if len(episode_length) and int(episode_length.sum()) != n:
            raise ValueError(f"episode lengths sum to {int(episode_length.sum())}, not {n} rows")
        self.manifest = manifest
        self.pixels = pixels
        self.action = action
        self.state = state
        self.episode_length = episode_length
        self.episode_offset = episode_offset
        self.root = root

    @property
    def num_episodes(self) -> int:
        return len(self.episode_length)

    @property
    def num_frames(self) -> int:
        return len(self.pixels)

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """Views of episode `i`: pixels (L, H, W, C), action (L, A), state (L, S)."""
        if not -self.num_episodes <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range: the dataset has {self.num_episodes}")
        start = int(self.episode_offset[i])
        end = start + int(self.episode_length[i])
        return {
            "pixels": self.pixels[start:end],
            "action": self.action[start:end],
            "state": self.state[start:end],
        }

    def __repr__(self) -> str:
        where = f", root={str(self.root)!r}" if self.root is not None else ""
        return (
            f"Experience(world={self.manifest.get('world')!r}, episodes={self.num_episodes}, "
            f"frames={self.num_frames}, image_shape={tuple(self.pixels.shape[1:])}{where})"
        )


def open_dataset(root: str | os.PathLike[str], verify: bool = True) -> Experience:
    """Load every episode of the dataset in `root` into memory, checking hashes if `verify`."""
    root = Path(root)
    manifest = read_manifest(root)
    shards = manifest["shards"]
    for shard in shards:
        if verify:
            _verify_shard(root, shard)
        elif not (root / shard["file"]).is_file():
            _verify_shard(root, shard)  # raises the "missing" error
    h, w, c = manifest["image_shape"]
    a, s = manifest["action_dim"], manifest["state_dim"]
    n = sum(int(sh["frames"]) for sh in shards)
    e = sum(int(sh["episodes"]) for sh in shards)
    pixels = np.empty((n, h, w, c), np.uint8)
    action = np.empty((n, a), np.float32)
    state = np.empty((n, s), np.float32)
    lengths = np.empty(e, np.int64)
    offsets = np.empty(e, np.int64)
    row = ep = 0
    for shard in shards:
        path = root / shard["file"]
        frames, episodes = int(shard["frames"]), int(shard["episodes"])
        expected = {
            "pixels": (frames, h, w, c),
            "action": (frames, a),
            "state": (frames, s),
            "episode_length": (episodes,),
            "episode_offset": (episodes,),
        }
        try:
            with h5py.File(path, "r") as f:
                for key, shape in expected.items():
                    if key not in f or f[key].shape != shape:
                        got = f[key].shape if key in f else "nothing"
                        raise DatasetError(
                            f"{path}: {key} has shape {got}, but {root / MANIFEST} implies {shape}; "
                            f"delete the shard and {_resume_hint(root)}"
                        )
                f["pixels"].read_direct(pixels[row : row + frames])
                f["action"].read_direct(action[row : row + frames])
                f["state"].read_direct(state[row : row + frames])
                shard_lengths = f["episode_length"][()]
                shard_offsets = f["episode_offset"][()]
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            raise DatasetError(
                f"cannot read {path} ({err}); the shard is damaged: delete it and {_resume_hint(root)}"
            ) from None
        starts = np.concatenate([[0], np.cumsum(shard_lengths)[:-1]])
        if shard_lengths.sum() != frames or (shard_lengths < 1).any() or (shard_offsets != starts).any():
            raise DatasetError(
                f"{path}: episode_length/episode_offset do not tile its {frames} frames; "
                f"delete the shard and {_resume_hint(root)}"
            )
        lengths[ep : ep + episodes] = shard_lengths
        offsets[ep : ep + episodes] = shard_offsets + row
        row += frames
        ep += episodes
    return Experience(manifest, pixels, action, state, lengths, offsets, root=root)
