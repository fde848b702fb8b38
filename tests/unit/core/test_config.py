import pytest

from openami.config import ConfigError
from openami.evaluation.planning import EvalConfig
from openami.models import ModelConfig
from openami.presets import Preset, load_preset, preset_names
from openami.training import RunConfig, TrainConfig


def test_unknown_key_names_the_key_and_its_closest_neighbour():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.stepz'.*'steps'"):
        RunConfig.from_dict({"train": {"stepz": 3}})


def test_wrong_type_and_impossible_values_are_refused():
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": "many"})
    with pytest.raises(ConfigError, match="train.steps must be positive"):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(image_size=60)
    with pytest.raises(ConfigError, match="elite_fraction"):
        EvalConfig.from_dict({"search": {"action_dim": 2, "elite_fraction": 2.0}})


def test_yaml_round_trip(tmp_path):
    config = RunConfig(model=ModelConfig(cnn_channels=(8, 16), latent_dim=32), train=TrainConfig(steps=7),
                       world_kwargs={"size": 32})
    config.save_yaml(tmp_path / "c.yaml")
    assert RunConfig.load_yaml(tmp_path / "c.yaml") == config


def test_every_builtin_preset_loads_and_unknown_preset_is_named():
    assert "tworoom" in preset_names()
    for name in preset_names():
        assert isinstance(load_preset(name), Preset)
    with pytest.raises(ConfigError, match="tworoom"):
        load_preset("tworom")


def test_missing_and_broken_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_preset(str(tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_preset(str(bad))


def test_unavailable_or_unknown_devices_are_explained():
    import torch

    from openami.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
