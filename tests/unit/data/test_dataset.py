"""WindowDataset windows and split_episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openami.data import DatasetWriter, Experience, WindowDataset, open_dataset, split_episodes

H, W, C, A = 6, 5, 3, 2


def make_experience(lengths: list[int]) -> Experience:
    """Episodes whose state is (episode, time) and whose action encodes (episode, time) too."""
    lengths_arr = np.array(lengths, np.int64)
    offsets = np.cumsum(lengths_arr) - lengths_arr
    ep = np.repeat(np.arange(len(lengths)), lengths)
    t = np.arange(int(lengths_arr.sum())) - np.repeat(offsets, lengths)
    state = np.stack([ep, t], axis=1).astype(np.float32)
    action = np.stack([ep * 1000 + t, -t], axis=1).astype(np.float32)
    pixels = np.zeros((len(t), H, W, C), np.uint8)
    pixels[:, 0, 0, 0] = ep
    pixels[:, 0, 1, 0] = t
    pixels[:, 1, 0, 1] = 7  # a channel-distinct pixel, to check the CHW layout
    return Experience({}, pixels, action, state, lengths_arr, offsets)


def test_shapes_and_dtypes() -> None:
    ds = WindowDataset(make_experience([10, 12]), history=3, future=2, frameskip=2)
    sample = ds[0]
    assert sample["pixels"].shape == (5, C, H, W) and sample["pixels"].dtype == torch.uint8
    assert sample["actions"].shape == (4, 2 * A) and sample["actions"].dtype == torch.float32
    assert sample["state"].shape == (5, 2) and sample["state"].dtype == torch.float32
    assert sample["pixels"][0, 1, 1, 0] == 7  # channel 1, row 1, column 0
    # span = 4*2+1 = 9 frames: 2 starts in the first episode, 4 in the second
    assert len(ds) == 2 + 4
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["pixels"].shape == (3, 5, C, H, W)


@pytest.mark.parametrize("frameskip", [1, 3])
def test_windows_stay_in_one_episode(frameskip: int) -> None:
    lengths = [7, 11, 4, 9]
    ds = WindowDataset(make_experience(lengths), history=2, future=1, frameskip=frameskip)
    span = 2 * frameskip + 1
    assert len(ds) == sum(max(n - span + 1, 0) for n in lengths)
    seen = set()
    for i in range(len(ds)):
        state = ds[i]["state"].numpy()
        ep, start = int(state[0, 0]), int(state[0, 1])
        assert (ep, start) == ds.locate(i)
        np.testing.assert_array_equal(state[:, 0], ep)  # never crosses an episode boundary
        np.testing.assert_array_equal(state[:, 1], start + frameskip * np.arange(3))
        assert start + 2 * frameskip <= lengths[ep] - 1
        pixels = ds[i]["pixels"].numpy()
        np.testing.assert_array_equal(pixels[:, 0, 0, 1], start + frameskip * np.arange(3))
        seen.add((ep, start))
    assert len(seen) == len(ds)


def test_first_rows_are_where_each_window_starts_in_the_experience() -> None:
    exp = make_experience([7, 11, 4, 9])
    ds = WindowDataset(exp, history=2, future=1, frameskip=2, episodes=[3, 1])
    for i, row in enumerate(ds.first_rows):
        np.testing.assert_array_equal(exp.state[row], ds[i]["state"][0].numpy())


def test_frameskip_actions_are_the_raw_actions_in_order() -> None:
    exp = make_experience([20])
    ds = WindowDataset(exp, history=2, future=2, frameskip=3)
    ep, start = ds.locate(5)
    actions = ds[5]["actions"].numpy()  # (3, 3*A)
    for k in range(3):
        raw = exp.action[start + 3 * k : start + 3 * (k + 1)]  # actions after frames t+3k ... t+3k+2
        np.testing.assert_array_equal(actions[k], raw.reshape(-1))


def test_episode_subset() -> None:
    ds = WindowDataset(make_experience([5, 6, 7]), history=2, future=2, episodes=[2, 0])
    assert {ds.locate(i)[0] for i in range(len(ds))} == {0, 2}
    assert len(ds) == (5 - 3) + (7 - 3)


def test_errors() -> None:
    exp = make_experience([4, 5])
    with pytest.raises(ValueError, match=r"need episodes of at least 9 frames.*has 5"):
        WindowDataset(exp, history=3, future=2, frameskip=2)
    with pytest.raises(ValueError, match=r"indices in \[0, 2\)"):
        WindowDataset(exp, history=1, future=1, episodes=[0, 2])
    with pytest.raises(ValueError, match="history >= 1"):
        WindowDataset(exp, history=0, future=1)


def test_from_disk(tmp_path: Path) -> None:
    exp = make_experience([6, 8])
    settings = dict(
        world="openami/Test-v0",
        world_kwargs={},
        image_shape=(H, W, C),
        action_dim=A,
        action_low=[-1, -1],
        action_high=[1, 1],
        state_dim=2,
        policy={"name": "test"},
        seed=0,
    )
    with DatasetWriter(tmp_path, **settings, episodes_per_shard=1) as writer:
        for i in range(exp.num_episodes):
            e = exp.episode(i)
            writer.add_episode(e["pixels"], e["action"], e["state"])
    ds_disk = WindowDataset(open_dataset(tmp_path), history=2, future=1, frameskip=2)
    ds_mem = WindowDataset(exp, history=2, future=1, frameskip=2)
    assert len(ds_disk) == len(ds_mem)
    for i in range(len(ds_mem)):
        for key in ("pixels", "actions", "state"):
            assert torch.equal(ds_disk[i][key], ds_mem[i][key])


def test_split_episodes() -> None:
    train, val = split_episodes(50, 0.2, seed=3)
    assert len(val) == 10 and len(train) == 40
    assert not set(train) & set(val) and set(train) | set(val) == set(range(50))
    assert (train, val) == split_episodes(50, 0.2, seed=3)
    assert (train, val) != split_episodes(50, 0.2, seed=4)
    assert split_episodes(3, 0.01, seed=0)[1] != []  # a nonzero fraction gives at least one
    assert split_episodes(1, 0.5, seed=0) == ([0], [])  # training keeps at least one
    assert split_episodes(4, 0.0, seed=0) == ([0, 1, 2, 3], [])
    with pytest.raises(ValueError, match="val_fraction"):
        split_episodes(4, 1.0, seed=0)


def test_episode_frames_come_from_each_windows_episode() -> None:
    lengths = [7, 11, 4, 9]
    ds = WindowDataset(make_experience(lengths), history=2, future=1, frameskip=1)
    indices = np.arange(len(ds))
    frames = ds.episode_frames(indices, np.random.default_rng(0))
    assert frames.shape == (len(ds), C, H, W) and frames.dtype == torch.uint8
    episodes = np.array([ds.locate(i)[0] for i in indices])
    np.testing.assert_array_equal(frames[:, 0, 0, 0].numpy(), episodes)
    times = frames[:, 0, 0, 1].numpy()
    assert (times < np.array(lengths)[episodes]).all()
    # Drawn across the whole episode, not only near the window, and the same for the same generator.
    many = np.concatenate([ds.episode_frames(indices, np.random.default_rng(s))[:, 0, 0, 1].numpy() for s in range(20)])
    assert len(np.unique(many[np.tile(episodes, 20) == 1])) > 6
    torch.testing.assert_close(frames, ds.episode_frames(indices, np.random.default_rng(0)))
    # A process keeping some rows of the batch reads those rows' frames, the same ones.
    torch.testing.assert_close(frames[3:7], ds.episode_frames(indices, np.random.default_rng(0), keep=slice(3, 7)))
