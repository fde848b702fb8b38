"""Cross-entropy method: refit the Gaussian to the lowest-cost (elite) samples."""

from __future__ import annotations

from torch import Tensor

from openami.planning.base import PLANNERS, SamplingPlanner


@PLANNERS.register("cem")
class CEMPlanner(SamplingPlanner):
    """CEM over action sequences; the elites are the best `elite_fraction` of the samples."""

    def update(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        num_elites = max(1, int(self.config.elite_fraction * samples.shape[1]))
        idx = costs.topk(num_elites, dim=1, largest=False).indices  # (B, K)
        elites = samples.gather(1, idx[:, :, None, None].expand(-1, -1, *samples.shape[2:]))  # (B, K, H, A)
        return elites.mean(dim=1), elites.std(dim=1, unbiased=False)
