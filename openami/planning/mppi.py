"""Model-predictive path integral: refit the Gaussian to all samples weighted by exp(-cost / T)."""

from __future__ import annotations

import torch
from torch import Tensor

from openami.planning.base import PLANNERS, SamplingPlanner


@PLANNERS.register("mppi")
class MPPIPlanner(SamplingPlanner):
    """MPPI with weights softmax(-(cost - min) / (temperature * spread)) over the S samples.

    `spread` is the standard deviation of the S costs of each batch element, so the
    temperature is unit-free: the same value works whether a model's squared latent
    distances are around 1 or 1000, and as costs shrink near the optimum the weighting
    stays just as selective. With the default temperature 0.5, a sample one cost-std worse
    than the best weighs e^-2 as much; much lower temperatures collapse the std onto a
    single sample in the first iterations and stall.

    Both the mean and the std are refit with these weights; classic MPPI keeps the noise
    fixed, but shrinking it lets the same loop converge like CEM, and `min_std` keeps
    exploration alive where wanted.
    """

    def update(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        # Non-finite costs (a diverging rollout) get zero weight and stay out of the spread.
        finite = costs.isfinite()  # (B, S)
        best = costs.min(dim=1, keepdim=True).values  # (B, 1)
        filled = torch.where(finite, costs, best)  # (B, S)
        # Guard the spread so equal costs (a flat landscape) give uniform weights, not 0/0.
        spread = filled.std(dim=1, keepdim=True).clamp_min(torch.finfo(costs.dtype).tiny)  # (B, 1)
        logits = -(filled - best) / (self.config.temperature * spread)  # (B, S)
        logits = logits.masked_fill(~finite, float("-inf"))
        # With no finite cost at all there is nothing to prefer: weigh every sample alike.
        logits = torch.where(finite.any(dim=1, keepdim=True), logits, torch.zeros_like(logits))
        weights = torch.softmax(logits, dim=1)[:, :, None, None]  # (B, S, 1, 1)
        new_mean = (weights * samples).sum(dim=1)  # (B, H, A)
        new_var = (weights * (samples - new_mean.unsqueeze(1)) ** 2).sum(dim=1)  # (B, H, A)
        return new_mean, new_var.sqrt()
