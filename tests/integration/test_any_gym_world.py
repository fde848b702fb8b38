"""Any installed Gymnasium env with rgb_array rendering and a Box action space works by its id."""

import pytest

from openami.data import open_dataset
from openami.data.collect import collect
from openami.evaluation.planning import EvalConfig, plan_episode
from openami.models import ModelConfig
from openami.planning.base import PlannerConfig
from openami.training import TrainConfig, fit, load_model

pytest.importorskip("pygame", reason="Pendulum renders with pygame (the dev extra installs it)")


def test_pendulum_collect_train_plan(tmp_path):
    data = collect("Pendulum-v1", 3, tmp_path / "data", episode_length=12, size=32, progress=False)
    experience = open_dataset(data)
    assert experience.manifest["world"] == "Pendulum-v1"
    assert experience.pixels.shape[1:] == (32, 32, 3) and experience.state.shape[1] == 3
    assert experience.action.min() >= -2 and experience.action.max() <= 2

    fit(data, tmp_path / "run", ModelConfig(cnn_channels=(8, 16), cnn_stem=2, latent_dim=8, predictor_width=16,
                                           predictor_depth=1),
        TrainConfig(steps=2, batch_size=4, future=2, frameskip=2, checkpoint_every=2, val_fraction=0.0),
        progress=False)
    model, run = load_model(tmp_path / "run")
    search = PlannerConfig(action_dim=1, horizon=2, num_samples=16, iterations=1)
    result = plan_episode(model, run, EvalConfig(search=search), seed=1, budget=6, gif=tmp_path / "ep.gif")
    assert result["plan_calls"] == 3  # one plan per model step of frameskip 2
    assert (tmp_path / "ep.gif").stat().st_size > 0
