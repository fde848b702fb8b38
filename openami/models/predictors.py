"""Action-conditioned predictors: (z history (B, T, D), action (B, A)) -> next z (B, D)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openami.models.config import ModelConfig
from openami.registry import Registry

PREDICTORS: Registry = Registry("predictor")


class AdaLNBlock(nn.Module):
    """Pre-norm transformer block whose norms are shifted, scaled and gated by the action.

    The modulation starts at zero (adaLN-Zero, as in DiT), so each block begins as
    the identity and the action's influence is learned.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:  # x (B, T, W), cond (B, W)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).unsqueeze(1).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self._attend(h)
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)

    def _attend(self, h: Tensor) -> Tensor:  # (B, T, W)
        if h.shape[1] > 1:
            return self.attn(h, h, h, need_weights=False)[0]
        # A single token attends only to itself, so attention is exactly its value and
        # output projections: much cheaper for the planner's large batches.
        width = self.attn.embed_dim
        value = F.linear(h, self.attn.in_proj_weight[2 * width:], self.attn.in_proj_bias[2 * width:])
        return self.attn.out_proj(value)


@PREDICTORS.register("transformer")
class TransformerPredictor(nn.Module):
    """Tokens are the history embeddings; the action modulates every block (AdaLN)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.predictor_width
        self.embed = nn.Linear(config.latent_dim, width)
        self.position = nn.Parameter(torch.randn(1, config.history, width) * 0.02)
        self.action_embed = nn.Sequential(nn.Linear(config.action_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(AdaLNBlock(width, config.predictor_heads)
                                    for _ in range(config.predictor_depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, config.latent_dim)

    def forward(self, z: Tensor, action: Tensor) -> Tensor:  # z (B, T, D), action (B, A) -> (B, D)
        x = self.embed(z) + self.position[:, -z.shape[1]:]
        cond = self.action_embed(action)
        for block in self.blocks:
            x = block(x, cond)
        # Residual on the last embedding: the predictor learns how z changes.
        return z[:, -1] + self.head(self.norm(x[:, -1]))


@PREDICTORS.register("mlp")
class MLPPredictor(nn.Module):
    """The flattened history and the action through an MLP, predicting the change in z."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_dim = config.latent_dim * config.history + config.action_dim
        for _ in range(config.predictor_depth):
            layers += [nn.Linear(in_dim, config.predictor_width), nn.GELU()]
            in_dim = config.predictor_width
        layers.append(nn.Linear(in_dim, config.latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, action: Tensor) -> Tensor:  # z (B, T, D), action (B, A) -> (B, D)
        return z[:, -1] + self.net(torch.cat([z.flatten(1), action], dim=-1))


def build_predictor(config: ModelConfig) -> nn.Module:
    return PREDICTORS.get(config.predictor)(config)
