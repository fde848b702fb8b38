"""Training samples: windows of frames inside one episode, with the actions between them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from openami.data.storage import Experience


class WindowDataset(Dataset):
    """Windows of `history + future` frames taken every `frameskip` steps within one episode.

    A sample starting at frame t holds frames t, t+f, ..., t+(T-1)f (T = history + future,
    f = frameskip) as a dict:

    - ``pixels``: uint8 (T, C, H, W), channels first;
    - ``actions``: float32 (T-1, f*A), the f actions taken between consecutive sampled
      frames, concatenated in time order;
    - ``state``: float32 (T, S), the true state at the sampled frames.

    Only `episodes` (all by default) are used, so train and validation can split by episode.
    """

    def __init__(
        self,
        experience: Experience,
        history: int,
        future: int,
        frameskip: int = 1,
        episodes: Sequence[int] | None = None,
    ) -> None:
        if history < 1 or future < 0 or frameskip < 1:
            raise ValueError(
                f"need history >= 1, future >= 0 and frameskip >= 1, got {history}, {future}, {frameskip}"
            )
        self.experience = experience
        self.history, self.future, self.frameskip = history, future, frameskip
        self.num_frames = history + future
        n = experience.num_episodes
        ids = np.arange(n, dtype=np.int64) if episodes is None else np.asarray(episodes, np.int64)
        if ids.ndim != 1:
            raise ValueError(f"episodes must be a flat sequence of indices, got shape {ids.shape}")
        bad = ids[(ids < 0) | (ids >= n)]
        if len(bad):
            raise ValueError(f"episodes must be indices in [0, {n}), got {bad[:5].tolist()}")
        self.episodes = ids

        # Frames a window spans from its first to its last sampled frame, inclusive.
        span = (self.num_frames - 1) * frameskip + 1
        lengths = experience.episode_length[ids]
        counts = np.maximum(lengths - span + 1, 0)
        if counts.sum() == 0:
            longest = int(lengths.max()) if len(lengths) else 0
            raise ValueError(
                f"no window fits: {self.num_frames} frames every {frameskip} steps need episodes of "
                f"at least {span} frames, but the longest of the {len(ids)} selected episodes has {longest}"
            )
        # Index -> (episode, start) through flat arrays, so __getitem__ does no searching.
        self._episode = np.repeat(ids, counts)
        first = np.cumsum(counts) - counts
        self._start = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
        self._row = experience.episode_offset[self._episode] + self._start

    def __len__(self) -> int:
        return len(self._row)

    @property
    def first_rows(self) -> np.ndarray:
        """Each sample's first frame, as a row of the experience's arrays (int64, one per sample)."""
        return self._row

    def locate(self, index: int) -> tuple[int, int]:
        """The (episode, start frame) of sample `index`."""
        return int(self._episode[index]), int(self._start[index])

    def episode_frames(self, indices: Sequence[int], rng: np.random.Generator,
                       keep: slice = slice(None)) -> torch.Tensor:
        """One frame drawn uniformly from the episode of each sample in `indices`: uint8 (N, C, H, W).

        Only the frames of `indices[keep]` are read and returned, drawn as they would be for all of `indices`
        (so each process of a run reads its own rows of the batch, and they are the frames one process would draw)."""
        exp = self.experience
        episodes = self._episode[np.asarray(indices, np.int64)]
        rows = (exp.episode_offset[episodes] + rng.integers(0, exp.episode_length[episodes]))[keep]
        frames = np.stack([exp.pixels[int(r)] for r in rows])  # row by row: HDF5 takes no unsorted lists
        return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        exp, f, t = self.experience, self.frameskip, self.num_frames
        row = int(self._row[index])
        end = row + (t - 1) * f
        pixels = torch.from_numpy(np.ascontiguousarray(exp.pixels[row : end + 1 : f]))  # (T, H, W, C)
        # action[r] follows frame r, so the f actions after sampled frame k are rows
        # row+k*f ... row+(k+1)*f-1; the last sampled frame's own action is never used.
        actions = exp.action[row:end].reshape(t - 1, f * exp.action.shape[1])  # (T-1, f*A)
        return {
            "pixels": pixels.permute(0, 3, 1, 2).contiguous(),
            "actions": torch.from_numpy(np.array(actions, np.float32)),
            "state": torch.from_numpy(np.array(exp.state[row : end + 1 : f], np.float32)),
        }


def split_episodes(num_episodes: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministically shuffle episode ids into sorted (train, val) lists.

    The validation set gets ``round(num_episodes * val_fraction)`` episodes, at least one when
    `val_fraction` > 0, and training always keeps at least one.
    """
    if num_episodes < 1:
        raise ValueError(f"need at least one episode to split, got {num_episodes}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    num_val = round(num_episodes * val_fraction)
    if val_fraction > 0:
        num_val = max(num_val, 1)
    num_val = min(num_val, num_episodes - 1)
    order = np.random.default_rng(seed).permutation(num_episodes)
    return sorted(order[num_val:].tolist()), sorted(order[:num_val].tolist())
