"""Shared fixtures: a tiny TwoRoom dataset and a tiny trained run, made once per session."""

from __future__ import annotations

import pytest
import torch

from openami.data.collect import collect
from openami.models import ModelConfig
from openami.training import TrainConfig, fit, load_model, resume

TINY_MODEL = ModelConfig(cnn_channels=(8, 16), cnn_stem=2, latent_dim=16, predictor_width=32, predictor_depth=1)
TINY_TRAIN = TrainConfig(steps=6, batch_size=8, future=2, frameskip=2, log_every=2, checkpoint_every=3,
                         warmup_steps=2)


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "tworoom"
    return collect("tworoom", 6, out, episode_length=20, size=32, episodes_per_shard=4, progress=False)


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    fit(tiny_data, run, TINY_MODEL, TINY_TRAIN, progress=False)
    return run


def assert_resume_matches_straight(data, tmp_path, model: ModelConfig, train: TrainConfig) -> None:
    """Train `train.steps` steps straight to tmp_path/straight, and half of them then resumed to the rest in
    tmp_path/stopped; the two models must be equal, weight for weight."""
    fit(data, tmp_path / "straight", model, train, progress=False)
    fit(data, tmp_path / "stopped", model, train.replace(steps=train.steps // 2), progress=False)
    resume(tmp_path / "stopped", steps=train.steps, progress=False)
    a, _ = load_model(tmp_path / "straight")
    b, _ = load_model(tmp_path / "stopped")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, msg=f"{name} differs after resume")
