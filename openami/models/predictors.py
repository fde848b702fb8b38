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

    def forward(self, x: Tensor, cond: Tensor, last_only: bool = False) -> Tensor:  # x (B, T, W), cond (B, W)
        """(B, T, W), or with `last_only` the last token's output alone, (B, 1, W): every token is still
        attended to, but only the last one is queried and put through the MLP."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).unsqueeze(1).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        if last_only and x.shape[1] > 1:
            x = x[:, -1:] + gate1 * self.attn(h[:, -1:], h, h, need_weights=False)[0]
        else:
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


class Predictor(nn.Module):
    """(z window (B, T, D), action (B, A)) -> next z (B, D), and `rollout` over a sequence of actions."""

    def rollout(self, window: Tensor, actions: Tensor) -> Tensor:  # (B, T, D), (B, H, A) -> (B, H, D)
        """Open loop: each prediction joins the window, the oldest embedding leaves it."""
        preds = []
        for h in range(actions.shape[1]):
            z_next = self(window, actions[:, h])  # (B, D)
            preds.append(z_next)
            window = torch.cat([window[:, 1:], z_next.unsqueeze(1)], dim=1)
        return torch.stack(preds, dim=1)


class _OneTokenBlock:
    """An AdaLNBlock's arithmetic for a single token without gradients, prepared for a whole rollout.

    Each step's modulations come from one product over all H steps; attention over one token,
    out_proj(value(h)), is folded into one affine map; weights are stored transposed (a lone 64-row
    product on two threads ran about a quarter faster so than through `F.linear`'s transposed view).
    """

    def __init__(self, block: AdaLNBlock, cond: Tensor) -> None:  # cond (H, B, W)
        width = cond.shape[-1]
        one_plus = torch.zeros(6, width, dtype=cond.dtype, device=cond.device)
        one_plus[[1, 4]] = 1.0  # the two scales enter as (1 + scale)
        self.mods = F.linear(cond, block.modulation.weight, block.modulation.bias + one_plus.flatten())  # (H, B, 6W)
        w_value, b_value = block.attn.in_proj_weight[2 * width:], block.attn.in_proj_bias[2 * width:]
        w_out, b_out = block.attn.out_proj.weight, block.attn.out_proj.bias
        self.attend = ((w_out @ w_value).t().contiguous(), torch.addmv(b_out, w_out, b_value))
        fc1, fc2 = block.mlp[0], block.mlp[2]
        self.fc1, self.fc2 = (fc1.weight.t().contiguous(), fc1.bias), (fc2.weight.t().contiguous(), fc2.bias)
        self.eps1, self.eps2 = block.norm1.eps, block.norm2.eps

    def __call__(self, x: Tensor, step: int) -> Tensor:  # x (B, W)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.mods[step].chunk(6, dim=-1)
        h = torch.addcmul(shift1, F.layer_norm(x, x.shape[-1:], eps=self.eps1), scale1)
        x = torch.addcmul(x, gate1, torch.addmm(self.attend[1], h, self.attend[0]))
        h = torch.addcmul(shift2, F.layer_norm(x, x.shape[-1:], eps=self.eps2), scale2)
        hidden = F.gelu(torch.addmm(self.fc1[1], h, self.fc1[0]))
        return torch.addcmul(x, gate2, torch.addmm(self.fc2[1], hidden, self.fc2[0]))


@PREDICTORS.register("transformer")
class TransformerPredictor(Predictor):
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
        for block in self.blocks[:-1]:
            x = block(x, cond)
        # Only the last token is read out, so the last block computes it alone (a sixth less work).
        x = self.blocks[-1](x, cond, last_only=True)
        # Residual on the last embedding: the predictor learns how z changes.
        return z[:, -1] + self.head(self.norm(x[:, -1]))

    def rollout(self, window: Tensor, actions: Tensor) -> Tensor:  # (B, T, D), (B, H, A) -> (B, H, D)
        if torch.is_grad_enabled() or window.shape[1] != 1:
            return super().rollout(window, actions)
        # The planner's case (history 1, no gradients): a planner's per-step products are small, so on a
        # CPU the number and layout of ops, not their size, set the time; the same arithmetic, fewer ops.
        cond = self.action_embed(actions.transpose(0, 1))  # (H, B, W)
        blocks = [_OneTokenBlock(block, cond) for block in self.blocks]
        embed_weight, embed_bias = self.embed.weight.t().contiguous(), self.embed.bias + self.position[0, -1]
        head_weight = self.head.weight.t().contiguous()
        z, preds = window[:, 0], []  # (B, D)
        for step in range(actions.shape[1]):
            x = torch.addmm(embed_bias, z, embed_weight)  # (B, W)
            for block in blocks:
                x = block(x, step)
            z = torch.addmm(z, self.norm(x), head_weight).add_(self.head.bias)
            preds.append(z)
        return torch.stack(preds, dim=1)


@PREDICTORS.register("mlp")
class MLPPredictor(Predictor):
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
