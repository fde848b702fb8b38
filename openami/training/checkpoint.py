"""Run directories: weights as safetensors, the resolved config, training state, `last`.

RUN/
  config.yaml                      resolved RunConfig (rebuilds the model)
  checkpoints/step-0001500/
    model.safetensors              weights only
    train_state.pt                 optimizer, RNG, step (tensors only, loaded weights_only)
  last                             name of the newest complete checkpoint, replaced atomically
  metrics.jsonl, tb/               written by the trainer
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from openami.atomic import atomic_write_text
from openami.config import ConfigError
from openami.device import resolve_device
from openami.models import WorldModel
from openami.training.config import RunConfig


class CheckpointError(Exception):
    """A run directory or checkpoint that cannot be loaded."""


def save_checkpoint(run_dir: Path, step: int, model: WorldModel, train_state: dict[str, Any],
                    keep: int = 2) -> Path:
    """Write a checkpoint into a temporary folder, rename it into place, then move `last`."""
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    final = checkpoints / f"step-{step:07d}"
    tmp = checkpoints / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"))
    torch.save(train_state, tmp / "train_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(run_dir / "last", final.name + "\n")
    for old in sorted(checkpoints.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def last_checkpoint(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist: train one with `ami train`")
    pointer = run_dir / "last"
    if not pointer.is_file():
        raise CheckpointError(f"{run_dir} has no checkpoint yet (no `last` file): was training stopped "
                              f"before its first checkpoint? Re-run `ami train --out {run_dir} --resume`")
    path = run_dir / "checkpoints" / pointer.read_text().strip()
    if not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{pointer} names {path}, which has no model.safetensors")
    return path


def load_run_config(run_dir: Path) -> RunConfig:
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist: train one with `ami train`")
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no config.yaml: is it a run directory made by `ami train`?")
    try:
        return RunConfig.load_yaml(path)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[WorldModel, RunConfig]:
    """Rebuild the model from the run's config and load its newest weights (eval mode)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    model = WorldModel(config.model)
    load_weights(model, last_checkpoint(run_dir) / "model.safetensors")
    return model.to(resolve_device(device)).eval(), config


def load_weights(model: WorldModel, path: Path) -> None:
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is corrupt or unreadable ({err}); "
                              "delete that checkpoint folder and use the previous one") from None
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # shapes differ: weights of another configuration or code version
        first = str(err).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{path} does not match the model in config.yaml ({first}); it was written by "
                              "another model configuration or openami version: retrain with `ami train`") from None
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match the model in config.yaml "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


def load_train_state(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / "train_state.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged file
        raise CheckpointError(f"{path} is corrupt or unreadable ({err})") from None
