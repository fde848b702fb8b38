"""WorldModel: encode pixels into latents and roll latents forward under actions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openami.models.config import ModelConfig
from openami.models.encoders import build_encoder
from openami.models.predictors import build_predictor


class WorldModel(nn.Module):
    """A JEPA world model: z = E(o), z' = P(z history, a).

    `encode` and `rollout` are the seam the planners use (see DESIGN.md).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config)
        self.predictor = build_predictor(config)

    def encode(self, obs: Tensor) -> Tensor:
        """obs (B, T, C, H, W), uint8 in [0, 255] or float in [0, 1] -> z (B, T, D)."""
        B, T = obs.shape[:2]
        return self.encoder(_centred(obs.flatten(0, 1))).view(B, T, -1)

    def encode_pooled(self, frames: Tensor) -> Tensor:
        """frames (B, C, H, W) as for `encode` -> the code's last `cnn_pooled_dims` dimensions (B, cnn_pooled_dims),
        from the CNN's position-free head alone (cheaper than `encode` when nothing else is needed)."""
        return self.encoder.pooled_code(_centred(frames))

    def predict(self, z_hist: Tensor, action: Tensor) -> Tensor:
        """One step: z_hist (B, T, D), action (B, A) -> next z (B, D)."""
        return self.predictor(self._window(z_hist), action)

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:
        """Open-loop: z_hist (B, T, D), actions (B, H, A) -> z_pred (B, H, D)."""
        return self.predictor.rollout(self._window(z_hist), actions)

    def _window(self, z_hist: Tensor) -> Tensor:
        """The last `history` embeddings; a shorter history is padded with its first one."""
        T = self.config.history
        if z_hist.shape[1] >= T:
            return z_hist[:, -T:]
        pad = z_hist[:, :1].expand(-1, T - z_hist.shape[1], -1)
        return torch.cat([pad, z_hist], dim=1)


def _centred(pixels: Tensor) -> Tensor:
    """uint8 in [0, 255] or float in [0, 1] -> float in [-0.5, 0.5]."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.float().div_(255.0)
    return pixels - 0.5
