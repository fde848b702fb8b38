"""Writing a dataset: episodes buffered into immutable shards, the manifest rewritten after each."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from openami.data.storage import (
    _RESUME_KEYS,
    _SHARD_RE,
    MANIFEST,
    SCHEMA_VERSION,
    _sha256,
    read_manifest,
)


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
        tmp = self.root / f".shard-{self._next_index:05d}.h5.tmp"
        try:
            shard = write_shard(tmp, episodes, self._manifest["image_shape"])
            self.adopt_shard(tmp, shard)
        except BaseException:
            self._buffer = episodes + self._buffer
            tmp.unlink(missing_ok=True)
            raise

    def adopt_shard(self, tmp: Path, shard: Mapping[str, Any]) -> None:
        """Append a shard written by `write_shard` (here or in a worker process) to the dataset.

        `tmp` must lie in the dataset folder; it is renamed to the next shard name and the
        manifest rewritten, so the dataset on disk is complete after every call.
        """
        if self._closed:
            raise RuntimeError(f"the DatasetWriter for {self.root} is closed")
        name = f"shard-{self._next_index:05d}.h5"
        os.replace(tmp, self.root / name)
        _fsync_dir(self.root)
        self._next_index += 1
        m = self._manifest
        m["shards"].append({"file": name, **shard})
        m["episodes"] += shard["episodes"]
        m["frames"] += shard["frames"]
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


def write_shard(path: Path, episodes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                image_shape: Sequence[int]) -> dict[str, Any]:
    """Write episodes (pixels, actions, states) as one HDF5 shard at `path`, synced to disk.

    Returns the shard's manifest entry without its file name: sha256, episodes, frames, bytes.
    """
    lengths = np.array([len(p) for p, _, _ in episodes], np.int64)
    frames = int(lengths.sum())
    h, w, c = image_shape
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        pix = f.create_dataset("pixels", (frames, h, w, c), np.uint8, chunks=(min(64, frames), h, w, c))
        row = 0
        for p, _, _ in episodes:
            pix[row : row + len(p)] = p
            row += len(p)
        f.create_dataset("action", data=np.concatenate([a for _, a, _ in episodes]))
        f.create_dataset("state", data=np.concatenate([s for _, _, s in episodes]))
        f.create_dataset("episode_length", data=lengths)
        f.create_dataset("episode_offset", data=np.cumsum(lengths) - lengths)
    _fsync_file(path)
    return {"sha256": _sha256(path), "episodes": len(episodes), "frames": frames, "bytes": path.stat().st_size}


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
