"""Sharded dataset storage: round trip, resume, refusals, damage detection, interruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openami.data import DatasetError, DatasetWriter, open_dataset, verify_dataset

H, W, C, A, S = 8, 8, 3, 2, 4
SETTINGS = dict(
    world="openami/Test-v0",
    world_kwargs={"size": 8},
    image_shape=(H, W, C),
    action_dim=A,
    action_low=[-1.0, -1.0],
    action_high=[1.0, 1.0],
    state_dim=S,
    policy={"name": "random", "settings": {"smooth": 0.5}},
    seed=0,
)


def make_episode(rng: np.random.Generator, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pixels = rng.integers(0, 256, (length, H, W, C), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (length, A)).astype(np.float32)
    actions[-1] = 0
    states = rng.normal(size=(length, S)).astype(np.float32)
    return pixels, actions, states


def write(root: Path, lengths: list[int], seed: int = 0, **kwargs) -> list[tuple]:
    rng = np.random.default_rng(seed)
    episodes = [make_episode(rng, n) for n in lengths]
    with DatasetWriter(root, **{**SETTINGS, "episodes_per_shard": 3, **kwargs}) as writer:
        for ep in episodes:
            writer.add_episode(*ep)
    return episodes


def assert_holds(exp, episodes: list[tuple]) -> None:
    assert exp.num_episodes == len(episodes)
    assert exp.num_frames == sum(len(p) for p, _, _ in episodes)
    for i, (p, a, s) in enumerate(episodes):
        got = exp.episode(i)
        np.testing.assert_array_equal(got["pixels"], p)
        np.testing.assert_array_equal(got["action"], a)
        np.testing.assert_array_equal(got["state"], s)


def test_round_trip(tmp_path: Path) -> None:
    lengths = [5, 7, 3, 9, 4, 6, 2]
    episodes = write(tmp_path, lengths)
    exp = open_dataset(tmp_path)
    assert_holds(exp, episodes)
    assert exp.pixels.dtype == np.uint8 and exp.action.dtype == np.float32
    np.testing.assert_array_equal(exp.episode_length, lengths)
    np.testing.assert_array_equal(exp.episode_offset, np.cumsum(lengths) - lengths)

    m = exp.manifest
    assert m["schema_version"] == 1 and m["world"] == "openami/Test-v0"
    assert m["world_kwargs"] == {"size": 8} and m["image_shape"] == [H, W, C]
    assert m["action_dim"] == A and m["state_dim"] == S and m["action_high"] == [1.0, 1.0]
    assert m["policy"] == SETTINGS["policy"] and m["seed"] == 0
    assert [sh["file"] for sh in m["shards"]] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]
    assert [sh["episodes"] for sh in m["shards"]] == [3, 3, 1]
    assert m["episodes"] == 7 and m["frames"] == sum(lengths)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_add_episode_validates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p, a, s = make_episode(rng, 4)
    with DatasetWriter(tmp_path, **SETTINGS) as writer:
        with pytest.raises(ValueError, match="pixels must be uint8"):
            writer.add_episode(p.astype(np.float32), a, s)
        with pytest.raises(ValueError, match=r"pixels must have shape \(L, 8, 8, 3\)"):
            writer.add_episode(p[:, :4], a, s)
        with pytest.raises(ValueError, match=r"actions must have shape \(4, 2\)"):
            writer.add_episode(p, a[:3], s)
        with pytest.raises(ValueError, match="states"):
            writer.add_episode(p, a, s[:, :2])
        with pytest.raises(ValueError, match="NaN"):
            writer.add_episode(p, np.full_like(a, np.nan), s)
        writer.add_episode(p, a.astype(np.float64), s)  # float64 is stored as float32
    assert open_dataset(tmp_path).num_episodes == 1


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    write(tmp_path, [3, 3])
    before = (tmp_path / "manifest.json").read_bytes()
    with pytest.raises(FileExistsError, match="--resume.*--out"):
        DatasetWriter(tmp_path, **SETTINGS)
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_resume_appends(tmp_path: Path) -> None:
    first = write(tmp_path, [3, 4, 5, 6])  # shards 0 (3 episodes) and 1 (1 episode)
    rng = np.random.default_rng(1)
    more = [make_episode(rng, n) for n in (2, 3)]
    with DatasetWriter(tmp_path, **SETTINGS, episodes_per_shard=3, resume=True) as writer:
        assert writer.existing_episodes == 4
        for ep in more:
            writer.add_episode(*ep)
        assert writer.episodes_added == 2
    exp = open_dataset(tmp_path)
    assert_holds(exp, first + more)
    assert [sh["file"] for sh in exp.manifest["shards"]][-1] == "shard-00002.h5"


def test_resume_on_empty_directory_starts_a_dataset(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "new", **SETTINGS, resume=True) as writer:
        assert writer.existing_episodes == 0
        writer.add_episode(*make_episode(np.random.default_rng(0), 3))
    assert open_dataset(tmp_path / "new").num_episodes == 1


@pytest.mark.parametrize(
    "field, value",
    [("world", "openami/Other-v0"), ("image_shape", (16, 16, 3)), ("action_high", [2.0, 2.0])],
)
def test_resume_refuses_mismatched_settings(tmp_path: Path, field: str, value) -> None:
    write(tmp_path, [3])
    with pytest.raises(ValueError, match=f"cannot resume .*{field}="):
        DatasetWriter(tmp_path, **{**SETTINGS, field: value}, resume=True)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no manifest.json in .*ami collect"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no manifest.json"):
        open_dataset(tmp_path / "does-not-exist")


def test_bad_manifest(tmp_path: Path) -> None:
    write(tmp_path, [3])
    path = tmp_path / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(DatasetError, match="schema_version 99"):
        open_dataset(tmp_path)
    path.write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json is not valid JSON"):
        open_dataset(tmp_path)


def test_missing_shard(tmp_path: Path) -> None:
    write(tmp_path, [3, 3, 3, 3])
    (tmp_path / "shard-00001.h5").unlink()
    for verify in (True, False):
        with pytest.raises(DatasetError, match=r"shard-00001\.h5 is listed .* but missing.*--resume"):
            open_dataset(tmp_path, verify=verify)


def test_resume_replaces_a_deleted_shard(tmp_path: Path) -> None:
    write(tmp_path, [3, 3, 3, 3])
    (tmp_path / "shard-00000.h5").unlink()
    with pytest.warns(UserWarning, match="shard-00000.h5 is missing"):
        writer = DatasetWriter(tmp_path, **SETTINGS, resume=True)
    assert writer.existing_episodes == 1
    writer.add_episode(*make_episode(np.random.default_rng(0), 3))
    writer.close()
    exp = open_dataset(tmp_path)
    assert exp.num_episodes == 2
    assert [sh["file"] for sh in exp.manifest["shards"]] == ["shard-00001.h5", "shard-00002.h5"]


def test_truncated_shard(tmp_path: Path) -> None:
    write(tmp_path, [3, 3, 3, 3])
    path = tmp_path / "shard-00000.h5"
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(DatasetError, match=r"shard-00000\.h5 is truncated.*expected sha256 .*--resume"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"shard-00000\.h5"):
        verify_dataset(tmp_path)
    # Without the hash check h5py's own error still comes out as a DatasetError naming the file.
    with pytest.raises(DatasetError, match=r"shard-00000\.h5"):
        open_dataset(tmp_path, verify=False)


def test_altered_shard(tmp_path: Path) -> None:
    write(tmp_path, [3, 3, 3, 3])
    path = tmp_path / "shard-00001.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"shard-00001\.h5 is altered: expected sha256 \w+\.\.\., got \w+"):
        open_dataset(tmp_path)


def test_interrupted_collection_keeps_complete_shards(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, 4) for _ in range(7)]
    writer = DatasetWriter(tmp_path, **SETTINGS, episodes_per_shard=3)
    for ep in episodes:
        writer.add_episode(*ep)
    del writer  # abandoned: the 7th episode was only buffered
    (tmp_path / ".shard-00002.h5.tmp").write_bytes(b"half a shard")

    exp = open_dataset(tmp_path)
    assert_holds(exp, episodes[:6])
    assert len(exp.manifest["shards"]) == 2

    with DatasetWriter(tmp_path, **SETTINGS, episodes_per_shard=3, resume=True) as writer:
        assert writer.existing_episodes == 6
        assert not (tmp_path / ".shard-00002.h5.tmp").exists()
        writer.add_episode(*episodes[6])
    assert_holds(open_dataset(tmp_path), episodes)


def test_exception_inside_context_keeps_buffered_episodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(KeyboardInterrupt):
        with DatasetWriter(tmp_path, **SETTINGS, episodes_per_shard=10) as writer:
            writer.add_episode(*make_episode(rng, 3))
            raise KeyboardInterrupt
    assert open_dataset(tmp_path).num_episodes == 1
