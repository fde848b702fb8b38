"""The training loop: pixels -> embeddings -> multi-step latent prediction + regulariser."""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate
from tqdm.auto import tqdm

from openami import distributed
from openami.data import Experience, WindowDataset, open_dataset, split_episodes
from openami.device import resolve_precision
from openami.distributed import Ranks
from openami.losses import REGULARIZERS, episode_contrast, prediction_loss
from openami.models import ModelConfig, WorldModel
from openami.models.decoder import Decoder, DecoderConfig, foreground_weighted_error
from openami.training.checkpoint import (
    CheckpointError,
    last_checkpoint,
    load_run_config,
    load_train_state,
    load_weights,
    save_checkpoint,
)
from openami.training.config import RunConfig, TrainConfig
from openami.training.metrics import MetricsLog, embedding_stats, trim_metrics
from openami.training.sampling import WindowSampler

# Batches of windows whose frames recompute BatchNorm statistics before each checkpoint.
CALIBRATION_BATCHES = 8


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    final_loss: float
    val_loss: float
    val_copy_last_loss: float = float("nan")
    """The validation loss of predicting that nothing changes: a predictor near it has learnt little."""


def jepa_losses(model: WorldModel, batch: dict[str, Tensor], history: int, regularizer: str,
                reg_weight: float, generator: torch.Generator | None,
                stop_target_gradient: bool = False,
                reconstruction: PixelReconstruction | None = None,
                episode_contrast_weight: float = 0.0,
                inverse_dynamics: InverseDynamics | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of one batch of windows; returns (total, parts) with the embeddings in parts['z'].

    parts['window_error'] is each of this rank's windows' prediction error, detached.

    With `reconstruction`, its weighted pixel loss on each window's first frame is added
    (parts['recon_loss']). With `episode_contrast_weight`, the batch holds 'episode_frame' (another
    frame of each window's episode) and the episode contrast of the code's pooled dimensions between it
    and the window's first frame is added (parts['contrast_loss']). With `inverse_dynamics`, its weighted
    error at naming each action from the embeddings around it is added (parts['inverse_loss']).

    Under torchrun the regulariser sees the embeddings of every rank (`gather_rows`), so
    that it is the global batch's statistic; parts['z'] is that global batch.
    """
    z = model.encode(batch["pixels"])  # (B, L, D), L = history + future
    z_hist, z_target = z[:, :history], z[:, history:]
    if stop_target_gradient:
        z_target = z_target.detach()
    # action t moves frame t to frame t+1, so predictions start from the last history action.
    z_pred = model.rollout(z_hist, batch["actions"][:, history - 1:])  # (B, future, D)
    pred = prediction_loss(z_pred, z_target)
    window_error = (z_pred.detach().float() - z_target.detach().float()).pow(2).mean(dim=(1, 2))  # (B,)
    z_all = distributed.gather_rows(z.flatten(0, 1))
    reg = REGULARIZERS.get(regularizer)(z_all, generator)
    total, parts = pred + reg_weight * reg, {"pred_loss": pred, "reg_loss": reg, "z": z_all,
                                             "window_error": window_error}
    if episode_contrast_weight > 0:
        partner = model.encode_pooled(batch["episode_frame"])
        contrast = episode_contrast(z[:, 0, -partner.shape[1]:], partner)
        total, parts["contrast_loss"] = total + episode_contrast_weight * contrast, contrast
    if reconstruction is not None:
        recon = reconstruction(z[:, 0], batch["pixels"][:, 0])
        total, parts["recon_loss"] = total + reconstruction.weight * recon, recon
    if inverse_dynamics is not None:
        inverse = inverse_dynamics(z, batch["actions"])
        total, parts["inverse_loss"] = total + inverse_dynamics.weight * inverse, inverse
    return total, parts


class PixelReconstruction(nn.Module):
    """The auxiliary pixel loss of `train.reconstruction_weight`: a decoder redraws frames from their
    embeddings, and its error trains the encoder too. Pixels that differ from the background colour
    (every object, still or moving) weigh more, so that small objects are not blurred away."""

    def __init__(self, model_config: ModelConfig, background: Tensor, weight: float) -> None:
        super().__init__()
        self.decoder = Decoder(DecoderConfig(latent_dim=model_config.latent_dim, image_size=model_config.image_size,
                                             channels=model_config.channels))
        self.register_buffer("background", background.reshape(-1, 1, 1))  # (C, 1, 1) in [0, 1]
        self.weight = weight

    def forward(self, z: Tensor, pixels: Tensor) -> Tensor:  # z (B, D), pixels uint8 (B, C, H, W)
        target = pixels.float() / 255.0
        return foreground_weighted_error(self.decoder(z).float(), target, self.background,
                                         self.decoder.config.foreground_weight)


class InverseDynamics(nn.Module):
    """The auxiliary loss of `train.inverse_dynamics_weight`: a small MLP names each action from the
    embeddings of the frames before, at and after it (velocity before and after the push), and its error
    trains the encoder too, so the code keeps the pushed body's motion precisely."""

    def __init__(self, model_config: ModelConfig, weight: float, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3 * model_config.latent_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, model_config.action_dim))
        self.weight = weight

    def forward(self, z: Tensor, actions: Tensor) -> Tensor:  # z (B, L, D), actions (B, L-1, A)
        # action k moves frame k to k+1: frames k-1, k, k+1 name it, for k = 1 .. L-2.
        triplets = torch.cat([z[:, :-2], z[:, 1:-1], z[:, 2:]], dim=-1)
        return nn.functional.mse_loss(self.net(triplets).float(), actions[:, 1:].float())


class JEPAObjective(nn.Module):
    """The world model with its training loss as `forward`, the shape DDP wraps."""

    def __init__(self, model: WorldModel, train: TrainConfig,
                 reconstruction: PixelReconstruction | None = None,
                 inverse_dynamics: InverseDynamics | None = None) -> None:
        super().__init__()
        self.model = model
        self.train_config = train
        self.reconstruction = reconstruction
        self.inverse_dynamics = inverse_dynamics

    def forward(self, batch: dict[str, Tensor], generator: torch.Generator | None) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = self.train_config
        with _autocast(self.model, cfg.precision):
            return jepa_losses(self.model, batch, self.model.config.history, cfg.regularizer,
                               cfg.reg_weight, generator, stop_target_gradient=cfg.target == "stopgrad",
                               reconstruction=self.reconstruction,
                               episode_contrast_weight=cfg.episode_contrast_weight,
                               inverse_dynamics=self.inverse_dynamics)


def _autocast(model: nn.Module, precision: str) -> contextlib.AbstractContextManager:
    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def fit(data_dir: str | Path, run_dir: str | Path, model: ModelConfig | None = None,
        train: TrainConfig | None = None, progress: bool = True) -> TrainResult:
    """Train a new world model on a dataset made by `ami collect`; write the run to run_dir."""
    run_dir = Path(run_dir)
    train = train or TrainConfig()
    ranks = distributed.setup(train.device)
    try:
        if ranks.is_main and (run_dir / "config.yaml").exists():
            raise FileExistsError(f"{run_dir} already holds a run: pass --resume to continue it, "
                                  "or choose another --out")
        ranks.slice(train.batch_size)  # an indivisible batch fails before anything is written
        # Every rank resolves 'auto' alike (from the hardware, not a timing), and the run records the result.
        train = train.replace(precision=resolve_precision(train.precision, ranks.device))
        experience = open_dataset(data_dir)  # verified before anything is written
        manifest = experience.manifest
        model = (model or ModelConfig()).replace(
            image_size=manifest["image_shape"][0], channels=manifest["image_shape"][2],
            action_dim=manifest["action_dim"] * train.frameskip)
        config = RunConfig(model=model, train=train, data=str(Path(data_dir).resolve()), world=manifest["world"],
                           world_kwargs=manifest["world_kwargs"], world_action_dim=manifest["action_dim"])
        if ranks.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            config.save_yaml(run_dir / "config.yaml")
        return _train(config, run_dir, experience, ranks, resume=False, progress=progress)
    finally:
        distributed.teardown(ranks)


def resume(run_dir: str | Path, steps: int | None = None, progress: bool = True) -> TrainResult:
    """Continue a stopped run from its last checkpoint, up to `steps` (default: its own schedule)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if steps is not None:
        config = config.replace(train=config.train.replace(steps=steps))
    ranks = distributed.setup(config.train.device)
    try:
        return _train(config, run_dir, open_dataset(config.data), ranks, resume=True, progress=progress)
    finally:
        distributed.teardown(ranks)


def _train(config: RunConfig, run_dir: Path, experience: Experience, ranks: Ranks, resume: bool,
           progress: bool) -> TrainResult:
    cfg = config.train
    device = ranks.device
    rows = ranks.slice(cfg.batch_size)
    train_eps, val_eps = split_episodes(experience.num_episodes, cfg.val_fraction, cfg.seed)
    history = config.model.history
    train_set = WindowDataset(experience, history, cfg.future, cfg.frameskip, train_eps)
    val_set = WindowDataset(experience, history, cfg.future, cfg.frameskip, val_eps) if val_eps else None
    # Only the main rank validates and calibrates BatchNorm before its checkpoints.
    val_batch = _fixed_batch(val_set, cfg.batch_size, cfg.seed, device) if val_set and ranks.is_main else None
    calibration = [_fixed_batch(train_set, cfg.batch_size, cfg.seed + 100 + i, device)["pixels"]
                   for i in range(CALIBRATION_BATCHES if ranks.is_main else 0)]

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    net = WorldModel(config.model).to(device)
    reconstruction = None
    if cfg.reconstruction_weight > 0:
        background = _background_colour(train_set, cfg.seed)
        reconstruction = PixelReconstruction(config.model, background, cfg.reconstruction_weight).to(device)
    inverse_dynamics = None
    if cfg.inverse_dynamics_weight > 0:
        inverse_dynamics = InverseDynamics(config.model, cfg.inverse_dynamics_weight).to(device)
    objective: nn.Module = JEPAObjective(net, cfg, reconstruction, inverse_dynamics)
    # The world model's parameters come first, as in runs without the auxiliary decoder.
    optimizer = torch.optim.AdamW(objective.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Every rank draws the same global batch (and SIGReg the same directions) and keeps its rows.
    sampler = WindowSampler(len(train_set), cfg.batch_size, cfg.hard_fraction, cfg.seed)
    reg_generator = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    start = 0
    if resume:
        checkpoint = last_checkpoint(run_dir)
        load_weights(net, checkpoint / "model.safetensors")
        state = load_train_state(checkpoint)
        if reconstruction is not None:
            if "reconstruction" not in state:
                raise CheckpointError(f"{checkpoint} holds no auxiliary decoder, but the run's config asks for "
                                      "train.reconstruction_weight > 0: it was written by another configuration")
            reconstruction.load_state_dict(state["reconstruction"])
        if inverse_dynamics is not None:
            if "inverse_dynamics" not in state:
                raise CheckpointError(f"{checkpoint} holds no inverse-dynamics head, but the run's config asks for "
                                      "train.inverse_dynamics_weight > 0: it was written by another configuration")
            inverse_dynamics.load_state_dict(state["inverse_dynamics"])
        optimizer.load_state_dict(state["optimizer"])
        try:
            sampler.load_state_dict(state)
        except ValueError as error:
            raise CheckpointError(f"{checkpoint}: {error}") from None
        reg_generator.set_state(state["reg_generator"])
        start = int(state["step"])
        saved_world = int(state.get("world_size", torch.tensor(1)))
        if saved_world != ranks.world_size and ranks.is_main:
            warnings.warn(f"{run_dir} was trained by {saved_world} process(es) and resumes with "
                          f"{ranks.world_size}: the global batch stays {cfg.batch_size} windows, so the run "
                          "continues the same objective, but it will not repeat bit for bit", stacklevel=2)
        if start >= cfg.steps:
            raise CheckpointError(f"{run_dir} already finished {start} of {cfg.steps} steps: "
                                  "ask for more with --steps")
        if ranks.is_main:
            trim_metrics(run_dir, start)
            config.save_yaml(run_dir / "config.yaml")  # records a longer schedule, once it is known to apply
    if ranks.world_size > 1:
        objective = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)

    log = MetricsLog(run_dir) if ranks.is_main else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train",
               disable=not (progress and ranks.is_main), dynamic_ncols=True)
    began, loss_value, val_loss, val_copy_last = time.time(), float("nan"), float("nan"), float("nan")
    net.train()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        drawn = sampler.draw()
        batch = _to(default_collate([train_set[int(i)] for i in drawn[rows]]), device)
        if cfg.episode_contrast_weight > 0:  # seeded by step, so a resumed run draws the same partners
            partners = train_set.episode_frames(drawn, np.random.default_rng([cfg.seed, step]), keep=rows)
            batch["episode_frame"] = partners.to(device)
        loss, parts = objective(batch, reg_generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        optimizer.step()
        if sampler.errors is not None:
            sampler.update(drawn, distributed.gather_rows(parts["window_error"]))
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            # The global batch's losses: the prediction loss is a mean over each rank's rows.
            names = ["loss", "pred_loss", "reg_loss"] + [n for n in ("recon_loss", "contrast_loss", "inverse_loss")
                                                        if n in parts]
            losses = distributed.mean_over_ranks(torch.stack([loss] + [parts[n] for n in names[1:]]).float())
            loss_value = losses[0].item()
            if log is not None:
                record = {**dict(zip(names, losses.tolist(), strict=True)), "lr": learning_rate(cfg, step),
                          **embedding_stats(parts["z"].detach())}
                record["elapsed_s"] = time.time() - began
                log.write(done, record)
                bar.set_postfix(loss=f"{loss_value:.4f}", pred=f"{record['pred_loss']:.4f}",
                                rank=f"{record['effective_rank']:.1f}")
        if (done % cfg.checkpoint_every == 0 or done == cfg.steps) and ranks.is_main:
            calibrate_batchnorm(net, calibration)
            if val_batch is not None:
                val_loss, val_copy_last = _validate(net, val_batch, history)
                log.write(done, {"val_pred_loss": val_loss, "val_copy_last_loss": val_copy_last})
            state = {"optimizer": optimizer.state_dict(), **sampler.state_dict(),
                     "reg_generator": reg_generator.get_state(), "step": torch.tensor(done),
                     "world_size": torch.tensor(ranks.world_size)}
            if reconstruction is not None:
                state["reconstruction"] = reconstruction.state_dict()
            if inverse_dynamics is not None:
                state["inverse_dynamics"] = inverse_dynamics.state_dict()
            save_checkpoint(run_dir, done, net, state, keep=cfg.keep_checkpoints)
    bar.close()
    if log is not None:
        log.close()
    distributed.barrier()  # no rank leaves before the last checkpoint is on disk
    return TrainResult(run_dir, cfg.steps, time.time() - began, loss_value, val_loss, val_copy_last)


def learning_rate(train: TrainConfig, step: int) -> float:
    """The schedule of `train`: a linear warm-up, then a cosine from train.lr down to a tenth of it."""
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(1, train.steps - train.warmup_steps)
    return train.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def calibrate_batchnorm(net: WorldModel, batches: list[Tensor]) -> None:
    """Recompute BatchNorm's running statistics exactly, over fixed batches of pixels.

    Training uses batch statistics; planning uses the running ones, and an exponential
    average lags a network that is still changing fast. Recomputing them over the
    same batches before each checkpoint makes eval mode match the trained network.
    """
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    net.train()
    for pixels in batches:
        net.encode(pixels)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


@torch.no_grad()
def _validate(net: WorldModel, batch: dict[str, Tensor], history: int) -> tuple[float, float]:
    """Open-loop prediction loss on the fixed validation batch, and that of copying the last embedding."""
    net.eval()
    z = net.encode(batch["pixels"])
    z_pred = net.rollout(z[:, :history], batch["actions"][:, history - 1:])
    target = z[:, history:]
    net.train()
    copy_last = z[:, history - 1:history].expand_as(target)
    return prediction_loss(z_pred, target).item(), prediction_loss(copy_last, target).item()


def _background_colour(dataset: WindowDataset, seed: int, frames: int = 256) -> Tensor:
    """The median colour of random frames' pixels, (C,) in [0, 1]: the empty floor or arena."""
    g = torch.Generator().manual_seed(seed + 11)
    picks = torch.randperm(len(dataset), generator=g)[:frames]
    pixels = torch.stack([dataset[int(i)]["pixels"][0] for i in picks])  # (N, C, H, W) uint8
    return pixels.transpose(0, 1).flatten(1).median(dim=1).values.float() / 255.0


def _fixed_batch(dataset: WindowDataset, size: int, seed: int, device: torch.device) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed + 7)
    idx = torch.randperm(len(dataset), generator=g)[:size]
    return _to(default_collate([dataset[int(i)] for i in idx]), device)


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
