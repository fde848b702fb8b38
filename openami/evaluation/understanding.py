"""Probe, surprise and open-loop evaluations of a run, each writing JSON and a picture.

The command line (`ami eval probe|surprise|rollout`) and the demo both call these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openami.atomic import atomic_write_text
from openami.config import Config, check
from openami.data import open_dataset
from openami.evaluation.probe import ProbeConfig, probe
from openami.evaluation.rollout import held_out_episodes, imagined_frames, rollout_errors
from openami.evaluation.surprise import SurpriseConfig, evaluate_surprise
from openami.models import WorldModel
from openami.models.decoder import DecoderConfig, load_decoder, save_decoder, train_decoder
from openami.report.gif import save_gif
from openami.report.understanding import plot_probes, plot_rollout, plot_surprise
from openami.training.checkpoint import last_checkpoint
from openami.training.config import RunConfig


@dataclass(frozen=True)
class UnderstandingConfig(Config):
    """Which physical-understanding evaluations a preset's demo runs, and their sizes."""

    probe: bool = True
    """Probe the world's quantities from frozen embeddings."""
    probe_frames: int = 20000
    """Frames the probes are fitted on."""
    surprise: bool = False
    """Score surprise at impossible events (physics world only)."""
    surprise_clips: int = 50
    """Pairs per violation type."""
    rollout_horizon: int = 10
    """Open-loop model steps; 0 skips the open-loop evaluation."""
    decoder: bool = True
    """Train a pixel decoder on frozen embeddings and write a GIF of imagined futures."""
    decoder_steps: int = 600
    """Decoder training steps."""

    def __post_init__(self) -> None:
        check(self.probe_frames >= 10, f"understanding.probe_frames must be at least 10, got {self.probe_frames}")
        check(self.surprise_clips >= 2, f"understanding.surprise_clips must be at least 2, got {self.surprise_clips}")
        check(self.rollout_horizon >= 0, f"understanding.rollout_horizon must be >= 0, got {self.rollout_horizon}")
        check(self.decoder_steps > 0, f"understanding.decoder_steps must be positive, got {self.decoder_steps}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2))


def run_probe(model: WorldModel, run_config: RunConfig, out_dir: str | Path, data: str | Path | None = None,
              config: ProbeConfig | None = None, random_baseline: bool = True) -> dict[str, Any]:
    """Probe the run's world quantities; writes probe.json and probe.png into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    experience = open_dataset(data or run_config.data)
    result = probe(model, experience, experience.manifest["world"], config, random_baseline)
    result["data"] = str(experience.root)
    _write_json(out_dir / "probe.json", result)
    plot_probes(result, out_dir / "probe.png")
    return result


def run_surprise(model: WorldModel, run_config: RunConfig, out_dir: str | Path,
                 config: SurpriseConfig | None = None, progress: bool = True, baseline: bool = True) -> dict[str, Any]:
    """Score impossible-event pairs (and, with `baseline`, a copy-last predictor on them); writes surprise.json
    and surprise.png into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate_surprise(model, run_config.world, run_config.train.frameskip, config, progress=progress,
                               baseline=baseline)
    _write_json(out_dir / "surprise.json", result)
    plot_surprise(result, out_dir / "surprise.png")
    return result


def run_rollout(model: WorldModel, run_dir: str | Path, run_config: RunConfig, out_dir: str | Path,
                data: str | Path | None = None, horizon: int = 10, decoder: bool = False,
                decoder_config: DecoderConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Open-loop error on held-out episodes (rollout.json, rollout.png); with `decoder`, imagination.gif.

    The decoder is trained on the run's training frames the first time and kept as
    RUN/decoder.safetensors; it is retrained when the run has a newer checkpoint.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    experience = open_dataset(data or run_config.data)
    episodes = held_out_episodes(run_config, experience.num_episodes)
    frameskip = run_config.train.frameskip
    result = rollout_errors(model, experience, episodes, horizon, frameskip)
    if decoder:
        path = Path(run_dir) / "decoder.safetensors"
        checkpoint = last_checkpoint(Path(run_dir)).name
        net = None
        if path.exists():
            net, trained_on = load_decoder(path, next(model.parameters()).device)
            net = net if trained_on == checkpoint else None
        if net is None:
            config = (decoder_config or DecoderConfig()).replace(
                latent_dim=model.config.latent_dim, image_size=model.config.image_size,
                channels=model.config.channels)
            held_out = np.zeros(experience.num_frames, bool)
            for e in episodes:
                start = int(experience.episode_offset[e])
                held_out[start:start + int(experience.episode_length[e])] = True
            rows = np.flatnonzero(~held_out) if not held_out.all() else np.arange(experience.num_frames)
            net = train_decoder(model, experience.pixels, config, rows, progress)
            save_decoder(net, path, checkpoint)
        frames = imagined_frames(model, net, experience, episodes, horizon, frameskip)
        save_gif(frames, out_dir / "imagination.gif")
        result["decoder"] = {"path": str(path), "trained_on": checkpoint,
                             "gif": str(out_dir / "imagination.gif")}
    _write_json(out_dir / "rollout.json", result)
    plot_rollout(result, out_dir / "rollout.png")
    return result
