"""An optional pixel decoder, trained on frozen embeddings, to look at imagined futures.

The decoder never sends gradients into the world model: it only shows what the latent
state holds. It is stored as one safetensors file whose metadata carries its config and the
checkpoint whose embeddings it was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from openami.atomic import atomic_write_bytes
from openami.config import Config, check


@dataclass(frozen=True)
class DecoderConfig(Config):
    """Shape and training of the decoder."""

    latent_dim: int = 64
    """Size D of the embeddings it decodes (set from the world model)."""
    image_size: int = 64
    """Output height and width (set from the world model); a multiple of 8."""
    channels: int = 3
    """Output channels."""
    width: int = 32
    """Channels of its first feature map (8x8); halved at each upsampling."""
    steps: int = 600
    """Optimizer steps."""
    batch_size: int = 64
    """Frames per step."""
    foreground_weight: float = 20.0
    """Extra loss weight on pixels that differ from the average frame (the moving things, which
    plain MSE would blur away into the background)."""
    lr: float = 2e-3
    """AdamW learning rate (cosine decay)."""
    seed: int = 0
    """Seed of initialisation and frame sampling."""

    def __post_init__(self) -> None:
        check(self.image_size % 8 == 0, f"decoder.image_size must be a multiple of 8, got {self.image_size}")
        for name in ("latent_dim", "channels", "width", "steps", "batch_size"):
            check(getattr(self, name) > 0, f"decoder.{name} must be positive, got {getattr(self, name)}")
        check(self.width % 4 == 0, f"decoder.width must be a multiple of 4, got {self.width}")
        check(self.foreground_weight >= 0, f"decoder.foreground_weight must be >= 0, got {self.foreground_weight}")


class Decoder(nn.Module):
    """z (B, D) -> image (B, C, H, W) in [0, 1]: a linear map to a small grid, three upsamplings."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        w, self.grid = config.width, config.image_size // 8
        self.project = nn.Linear(config.latent_dim, w * self.grid * self.grid)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(w, w, 4, 2, 1), nn.GELU(),
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.GELU(),
            nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1), nn.GELU(),
            nn.Conv2d(w // 4, config.channels, 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        x = self.project(z).view(len(z), self.config.width, self.grid, self.grid)
        return torch.sigmoid(self.up(F.gelu(x)))


def foreground_weighted_error(image: Tensor, target: Tensor, background: Tensor, foreground_weight: float) -> Tensor:
    """Squared error of images (B, C, H, W) in [0, 1], with target pixels that differ from `background`
    (an average frame (C, H, W), or a colour (C, 1, 1)) by more than 0.1 weighted 1 + foreground_weight."""
    foreground = ((target - background).abs().amax(dim=1, keepdim=True) > 0.1).float()  # (B, 1, H, W)
    return ((image - target) ** 2 * (1 + foreground_weight * foreground)).mean()


def train_decoder(model: nn.Module, pixels: np.ndarray, config: DecoderConfig, rows: np.ndarray | None = None,
                  progress: bool = True) -> Decoder:
    """Fit a decoder to frames uint8 (N, H, W, C) (only `rows` of them if given) from `model`'s frozen embeddings."""
    rows = np.arange(len(pixels)) if rows is None else np.asarray(rows, np.int64)
    if len(rows) == 0:
        raise ValueError("no frames to train the decoder on")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    decoder = Decoder(config).to(device)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    model.eval()
    sample = pixels[np.sort(rows[torch.randperm(len(rows), generator=generator)[:1000].numpy()])]
    average = torch.from_numpy(sample.mean(axis=0) / 255.0).float().permute(2, 0, 1).to(device)  # (C, H, W)
    for _ in tqdm(range(config.steps), desc="decoder", unit="step", disable=not progress, dynamic_ncols=True):
        picks = np.sort(rows[torch.randint(len(rows), (config.batch_size,), generator=generator).numpy()])
        frames = torch.from_numpy(pixels[picks]).to(device).permute(0, 3, 1, 2)  # (B, C, H, W) uint8
        with torch.no_grad():  # frozen: the world model learns nothing from the decoder
            z = model.encode(frames.unsqueeze(1))[:, 0]
        loss = foreground_weighted_error(decoder(z), frames.float() / 255.0, average, config.foreground_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return decoder.eval()


def save_decoder(decoder: Decoder, path: str | Path, trained_on: str) -> Path:
    """Write weights and config atomically; `trained_on` names the world-model checkpoint."""
    weights = {k: v.detach().contiguous().cpu() for k, v in decoder.state_dict().items()}
    meta = {"config": json.dumps(decoder.config.to_dict()), "trained_on": trained_on}
    atomic_write_bytes(path, save(weights, metadata=meta))
    return Path(path)


def load_decoder(path: str | Path, device: str | torch.device = "cpu") -> tuple[Decoder, str]:
    """The decoder in `path` and the name of the checkpoint it was trained on."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        config = DecoderConfig.from_dict(json.loads(meta["config"]))
        decoder = Decoder(config)
        decoder.load_state_dict(load_file(str(path)))
    except FileNotFoundError:
        raise FileNotFoundError(f"no decoder at {path}: train one with `ami eval rollout --decoder`") from None
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError) as err:
        raise ValueError(f"{path} is not a readable decoder ({err}); delete it and run "
                         "`ami eval rollout --decoder` to train a new one") from None
    return decoder.to(device).eval(), meta.get("trained_on", "")
