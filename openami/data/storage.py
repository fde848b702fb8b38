"""Experience on disk: immutable HDF5 shards of whole episodes plus an atomic manifest.

A dataset is a directory::

    manifest.json        schema version, world, spaces, policy, per-shard sha256, counts
    shard-00000.h5       pixels uint8[N,H,W,C], action float32[N,A], state float32[N,S],
    shard-00001.h5       episode_length int64[E], episode_offset int64[E] (row within the shard)

An episode of L frames has L rows; ``action[t]`` is the action taken after observing frame t,
so the last row of an episode holds zeros (an action that was never applied). Shards are
written to a hidden temporary name and renamed into place, and the manifest is rewritten
after every shard, so an interrupted collection leaves a valid dataset of its complete shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
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


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes a rename durable; directories cannot be opened this way on Windows.
    if os.name != "posix":
        return
    _fsync_file(path)


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _jsonable(name: str, value: Any) -> Any:
    """`value` as it will read back from JSON (tuples become lists, and so on)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be JSON-serializable: {e}") from None


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


class DatasetWriter:
    """Append episodes to a dataset directory, one immutable shard per `episodes_per_shard`.

    Use as a context manager, or call `close()`, to write the last partial shard and the
    final manifest. With `resume=True` an existing dataset is extended; `existing_episodes`
    says how many episodes it already holds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        world: str,
        world_kwargs: Mapping[str, Any],
        image_shape: Sequence[int],
        action_dim: int,
        action_low: Sequence[float],
        action_high: Sequence[float],
        state_dim: int,
        policy: Mapping[str, Any],
        seed: int,
        episodes_per_shard: int = 100,
        resume: bool = False,
    ) -> None:
        self.root = Path(root)
        settings = _jsonable(
            "dataset settings",
            {
                "world": world,
                "world_kwargs": dict(world_kwargs),
                "image_shape": [int(x) for x in image_shape],
                "action_dim": int(action_dim),
                "action_low": [float(x) for x in action_low],
                "action_high": [float(x) for x in action_high],
                "state_dim": int(state_dim),
                "policy": dict(policy),
                "seed": int(seed),
            },
        )
        _check_settings(settings)
        if episodes_per_shard < 1:
            raise ValueError(f"episodes_per_shard must be at least 1, got {episodes_per_shard}")
        self.episodes_per_shard = episodes_per_shard

        if (self.root / MANIFEST).exists():
            if not resume:
                raise FileExistsError(
                    f"{self.root} already holds a dataset ({MANIFEST}); pass --resume to add episodes "
                    "to it, or choose a new --out directory"
                )
            self._manifest = self._resumed_manifest(settings)
        else:
            self._manifest = {
                "schema_version": SCHEMA_VERSION,
                **settings,
                "shards": [],
                "episodes": 0,
                "frames": 0,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        self.root.mkdir(parents=True, exist_ok=True)
        # Left by a writer that died mid-shard; never part of the dataset.
        for stale in [*self.root.glob(".shard-*.h5.tmp"), self.root / f".{MANIFEST}.tmp"]:
            stale.unlink(missing_ok=True)
        # Number after every shard-like file on disk too, so that nothing is ever overwritten.
        names = [sh["file"] for sh in self._manifest["shards"]] + [p.name for p in self.root.iterdir()]
        indices = [int(m.group(1)) for m in map(_SHARD_RE.match, names) if m]
        self._next_index = max(indices, default=-1) + 1
        self.existing_episodes: int = self._manifest["episodes"]
        self._buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._closed = False

    def _resumed_manifest(self, settings: dict[str, Any]) -> dict[str, Any]:
        manifest = read_manifest(self.root)
        for key in _RESUME_KEYS:
            if manifest[key] != settings[key]:
                raise ValueError(
                    f"cannot resume {self.root}: its manifest has {key}={manifest[key]!r}, but this "
                    f"collection has {key}={settings[key]!r}; use the dataset's settings or a new --out"
                )
        kept = []
        for shard in manifest["shards"]:
            if (self.root / shard["file"]).is_file():
                kept.append(shard)
            else:
                warnings.warn(
                    f"{self.root / shard['file']} is missing; dropping its {shard['episodes']} episodes "
                    "from the manifest",
                    stacklevel=3,
                )
        manifest["shards"] = kept
        manifest["episodes"] = sum(sh["episodes"] for sh in kept)
        manifest["frames"] = sum(sh["frames"] for sh in kept)
        return manifest

    def add_episode(self, pixels: np.ndarray, actions: np.ndarray, states: np.ndarray) -> None:
        """Buffer one episode of L frames: pixels (L, H, W, C) uint8, actions (L, A), states (L, S)."""
        if self._closed:
            raise RuntimeError(f"the DatasetWriter for {self.root} is closed")
        m = self._manifest
        pixels, actions, states = np.asarray(pixels), np.asarray(actions), np.asarray(states)
        if pixels.dtype != np.uint8:
            raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
        if pixels.ndim != 4 or list(pixels.shape[1:]) != m["image_shape"] or len(pixels) < 1:
            raise ValueError(
                f"pixels must have shape (L, {', '.join(map(str, m['image_shape']))}) with L >= 1, "
                f"got {pixels.shape}"
            )
        length = len(pixels)
        for name, arr, dim in (("actions", actions, m["action_dim"]), ("states", states, m["state_dim"])):
            if arr.shape != (length, dim):
                raise ValueError(f"{name} must have shape ({length}, {dim}) to match pixels, got {arr.shape}")
            if not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(f"{name} must be floating point, got {arr.dtype}")
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contain NaN or infinite values")
        # Copies: callers often reuse their buffers for the next episode.
        self._buffer.append((pixels.copy(), actions.astype(np.float32), states.astype(np.float32)))
        if len(self._buffer) >= self.episodes_per_shard:
            self._flush()

    @property
    def episodes_added(self) -> int:
        """Episodes given to this writer so far (written or still buffered)."""
        return self._manifest["episodes"] - self.existing_episodes + len(self._buffer)

    def _flush(self) -> None:
        episodes, self._buffer = self._buffer, []
        name = f"shard-{self._next_index:05d}.h5"
        tmp, final = self.root / f".{name}.tmp", self.root / name
        lengths = np.array([len(p) for p, _, _ in episodes], np.int64)
        frames = int(lengths.sum())
        h, w, c = self._manifest["image_shape"]
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["schema_version"] = SCHEMA_VERSION
                pix = f.create_dataset(
                    "pixels", (frames, h, w, c), np.uint8, chunks=(min(64, frames), h, w, c)
                )
                row = 0
                for p, _, _ in episodes:
                    pix[row : row + len(p)] = p
                    row += len(p)
                f.create_dataset("action", data=np.concatenate([a for _, a, _ in episodes]))
                f.create_dataset("state", data=np.concatenate([s for _, _, s in episodes]))
                f.create_dataset("episode_length", data=lengths)
                f.create_dataset("episode_offset", data=np.cumsum(lengths) - lengths)
            _fsync_file(tmp)
            digest, size = _sha256(tmp), tmp.stat().st_size
            os.replace(tmp, final)
            _fsync_dir(self.root)
        except BaseException:
            self._buffer = episodes + self._buffer
            tmp.unlink(missing_ok=True)
            raise
        self._next_index += 1
        m = self._manifest
        m["shards"].append(
            {"file": name, "sha256": digest, "episodes": len(episodes), "frames": frames, "bytes": size}
        )
        m["episodes"] += len(episodes)
        m["frames"] += frames
        _write_json_atomic(self.root / MANIFEST, m)

    def close(self) -> None:
        """Write the buffered episodes as a last shard, then the final manifest."""
        if self._closed:
            return
        if self._buffer:
            self._flush()
        _write_json_atomic(self.root / MANIFEST, self._manifest)
        self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # Interrupted (Ctrl-C, a crashed world): keep the complete episodes already buffered,
        # but never let a second failure hide the first.
        try:
            self.close()
        except Exception as err:
            warnings.warn(f"could not save the buffered episodes to {self.root}: {err}", stacklevel=2)


def _check_settings(s: dict[str, Any]) -> None:
    if len(s["image_shape"]) != 3 or min(s["image_shape"]) < 1:
        raise ValueError(f"image_shape must be [H, W, C] of positive sizes, got {s['image_shape']}")
    if s["action_dim"] < 1:
        raise ValueError(f"action_dim must be at least 1, got {s['action_dim']}")
    if s["state_dim"] < 0:
        raise ValueError(f"state_dim must be non-negative, got {s['state_dim']}")
    for key in ("action_low", "action_high"):
        if len(s[key]) != s["action_dim"]:
            raise ValueError(f"{key} has {len(s[key])} values, but action_dim is {s['action_dim']}")
