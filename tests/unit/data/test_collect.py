"""Parallel collection writes the dataset one process writes: same shards, same order."""

from __future__ import annotations

import numpy as np
import pytest

from openami.data import open_dataset
from openami.data.collect import collect

SETTINGS = {"episode_length": 12, "size": 16, "episodes_per_shard": 2, "progress": False}


def _same_dataset(a_dir, b_dir) -> None:
    a, b = open_dataset(a_dir), open_dataset(b_dir)
    for key in ("pixels", "action", "state", "episode_length"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    strip = ("file", "sha256", "episodes", "frames")
    assert [{k: s[k] for k in strip} for s in a.manifest["shards"]] == \
        [{k: s[k] for k in strip} for s in b.manifest["shards"]]


def test_two_workers_write_what_one_writes(tmp_path):
    collect("physics", 7, tmp_path / "one", **SETTINGS)
    collect("physics", 7, tmp_path / "two", workers=2, **SETTINGS)
    _same_dataset(tmp_path / "one", tmp_path / "two")
    assert open_dataset(tmp_path / "two").num_episodes == 7  # 2 + 2 + 2 + 1: the last shard is partial
    assert not list((tmp_path / "two").glob(".*tmp"))


def test_parallel_resume_continues_the_seeds(tmp_path):
    collect("tworoom", 3, tmp_path / "serial", **SETTINGS)
    collect("tworoom", 8, tmp_path / "serial", resume=True, **SETTINGS)
    collect("tworoom", 3, tmp_path / "parallel", workers=2, **SETTINGS)
    collect("tworoom", 8, tmp_path / "parallel", resume=True, workers=2, **SETTINGS)
    _same_dataset(tmp_path / "serial", tmp_path / "parallel")


def test_bad_worker_settings(tmp_path):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        collect("tworoom", 2, tmp_path / "a", workers=0, **SETTINGS)
    with pytest.raises(ValueError, match="unknown collection backend 'dask'"):
        collect("tworoom", 2, tmp_path / "b", workers=2, backend="dask", **SETTINGS)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_ray_backend_with_a_local_ray(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is the optional extra openami[ray]")
    try:
        collect("tworoom", 5, tmp_path / "ray", workers=2, backend="ray", **SETTINGS)
    finally:
        ray.shutdown()
    collect("tworoom", 5, tmp_path / "one", **SETTINGS)
    _same_dataset(tmp_path / "one", tmp_path / "ray")
