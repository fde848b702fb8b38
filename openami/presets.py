"""Presets: one YAML file per world and budget, holding every component's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from openami.config import Config, ConfigError, check
from openami.data.policies import PolicyConfig
from openami.evaluation.planning import EvalConfig
from openami.evaluation.understanding import UnderstandingConfig
from openami.memory.graph import GraphConfig
from openami.models import ModelConfig
from openami.reasoning import ReasonConfig
from openami.registry import closest
from openami.training.config import TrainConfig


@dataclass(frozen=True)
class CollectConfig(Config):
    """How experience is collected."""

    world: str = "tworoom"
    """World short name or any Gymnasium id with rgb_array rendering and a Box action space."""
    episodes: int = 300
    """Episodes to collect."""
    episode_length: int = 100
    """World steps per episode."""
    size: int = 64
    """Observation height and width in pixels."""
    seed: int = 0
    """Episode i is seeded with seed + i."""
    episodes_per_shard: int = 50
    """Episodes per HDF5 shard."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """The exploration policy."""

    def __post_init__(self) -> None:
        check(self.episodes > 0, f"collect.episodes must be positive, got {self.episodes}")
        check(self.episode_length > 1, f"collect.episode_length must be > 1, got {self.episode_length}")
        check(self.size >= 8, f"collect.size must be at least 8 pixels, got {self.size}")


@dataclass(frozen=True)
class Preset(Config):
    """A whole recipe: collect, model, train and evaluate."""

    collect: CollectConfig = field(default_factory=CollectConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demo_episodes: dict = field(default_factory=dict)
    """Episodes per protocol that `ami demo` evaluates (fewer than the protocol's, to stay fast)."""
    understanding: UnderstandingConfig = field(default_factory=UnderstandingConfig)
    """Probes, surprise and open-loop evaluations that `ami demo` runs and reports."""
    graph: GraphConfig = field(default_factory=GraphConfig)
    """How `ami memory graph` links remembered states."""
    reason: ReasonConfig = field(default_factory=ReasonConfig)
    """How the far-goal agent turns a path through memory into subgoals."""


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("openami.configs").iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str) -> Preset:
    """A built-in preset by name (e.g. 'tworoom') or a YAML file by path."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        return Preset.load_yaml(Path(name_or_path))
    names = preset_names()
    if name_or_path not in names:
        raise ConfigError(f"unknown preset {name_or_path!r}: {closest(name_or_path, names)} "
                          "(or give a path to a YAML file)")
    with resources.as_file(resources.files("openami.configs") / f"{name_or_path}.yaml") as path:
        return Preset.load_yaml(path)
