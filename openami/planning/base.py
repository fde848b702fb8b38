"""The planning seams (world model, planner, result) and the sampling loop CEM and MPPI share.

A planner searches action sequences (B, H, A) that drive a world model's predicted
latents towards a goal latent, scoring them with an objective; it only ever calls
`model.rollout`, so anything with `encode` and `rollout` can be planned with.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from openami.config import Config, check
from openami.planning.objectives import Objective
from openami.registry import Registry


@runtime_checkable
class WorldModelLike(Protocol):
    """What a planner needs from a world model."""

    def encode(self, obs: Tensor) -> Tensor:
        """obs: (B, T, C, H, W) -> z: (B, T, D)."""
        ...

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:
        """z_hist: (B, T, D), actions: (B, H, A) -> z_pred: (B, H, D)."""
        ...


@dataclasses.dataclass(frozen=True)
class PlanResult:
    """The outcome of one call to `plan`."""

    actions: Tensor  # (B, H, A) the planned action sequence
    cost: Tensor  # (B,) the objective's cost of `actions` under the model
    iterations: int  # optimisation iterations run
    seconds: float  # wall-clock time spent planning


@runtime_checkable
class Planner(Protocol):
    """Anything that turns (model, objective, history, goal) into a plan."""

    def plan(
        self,
        model: WorldModelLike,
        objective: Objective,
        z_hist: Tensor,
        z_goal: Tensor,
        warm_start: Tensor | None = None,
    ) -> PlanResult: ...


@dataclasses.dataclass(frozen=True)
class PlannerConfig(Config):
    """Settings of the sampling planners (CEM, MPPI); each reads the fields it needs."""

    action_dim: int
    """A: size of one action; must match the world's action space."""
    horizon: int = 5
    """H: number of future actions planned."""
    num_samples: int = 300
    """S: action sequences sampled and rolled out per iteration, per batch element."""
    iterations: int = 30
    """Sampling/refitting rounds per call to `plan`."""
    elite_fraction: float = 0.1
    """CEM: fraction of the S samples (lowest cost) that refit the distribution."""
    temperature: float = 0.5
    """MPPI: softmax temperature, in units of the spread (std) of the sampled costs; lower is greedier."""
    init_std: float = 1.0
    """Initial per-(H, A) standard deviation of the sampling distribution."""
    min_std: float = 0.0
    """Floor on the standard deviation after each update, to keep exploring."""
    momentum: float = 0.0
    """Weight of the previous mean/std in each update (0 = take the new fit as is)."""
    action_low: float = -1.0
    """Lower bound of every action component; samples are clamped to it."""
    action_high: float = 1.0
    """Upper bound of every action component; samples are clamped to it."""
    seed: int = 0
    """Seed of the planner's own random generator."""

    def __post_init__(self) -> None:
        for name in ("action_dim", "horizon", "num_samples", "iterations"):
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            check(ok, f"planner.{name} must be a positive int, got {value!r}")
        check(
            0.0 < self.elite_fraction <= 1.0,
            f"planner.elite_fraction must be in (0, 1], got {self.elite_fraction}",
        )
        check(self.temperature > 0.0, f"planner.temperature must be > 0, got {self.temperature}")
        check(self.init_std > 0.0, f"planner.init_std must be > 0, got {self.init_std}")
        check(
            0.0 <= self.min_std <= self.init_std,
            f"planner.min_std must be in [0, init_std={self.init_std}], got {self.min_std}",
        )
        check(0.0 <= self.momentum < 1.0, f"planner.momentum must be in [0, 1), got {self.momentum}")
        check(
            self.action_low < self.action_high,
            f"planner.action_low ({self.action_low}) must be below action_high ({self.action_high})",
        )


PLANNERS: Registry[Callable[[PlannerConfig], Planner]] = Registry("planner")


def make_planner(name: str, config: PlannerConfig) -> Planner:
    """Build the planner registered under `name` (e.g. "cem", "mppi") from its config."""
    return PLANNERS.get(name)(config)


class SamplingPlanner(abc.ABC):
    """Iterated sampling from a diagonal Gaussian over action sequences, refit by `update`.

    Each iteration draws S sequences per batch element around the current mean (the
    mean itself is always sample 0, so a good warm start is never lost), clamps them to
    the action bounds, rolls out all B*S of them in one batched `model.rollout` call and
    scores them. The returned actions are the lowest-cost sequence evaluated during the
    whole search, not the mean after the last refit: that mean was never rolled out, so
    its cost is unknown, while the best evaluated sequence has a measured cost and is, by
    construction, never worse than the warm start or any earlier mean.
    """

    def __init__(self, config: PlannerConfig) -> None:
        self.config = config
        self._generator: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        """The planner's own generator on `device`, seeded from the config on first use."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.config.seed)
        return self._generator

    def reseed(self, seed: int | None = None) -> None:
        """Restart the random stream (from config.seed unless `seed` is given)."""
        if seed is not None:
            self.config = self.config.replace(seed=seed)
        self._generator = None

    @abc.abstractmethod
    def update(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """Refit the sampling distribution.

        samples: (B, S, H, A), costs: (B, S), mean, std: (B, H, A) -> new mean, std: (B, H, A).
        """

    def plan(
        self,
        model: WorldModelLike,
        objective: Objective,
        z_hist: Tensor,
        z_goal: Tensor,
        warm_start: Tensor | None = None,
    ) -> PlanResult:
        """Search actions (B, H, A) for z_hist: (B, T, D) towards z_goal: (B, D)."""
        cfg = self.config
        b, h, a, s = z_hist.shape[0], cfg.horizon, cfg.action_dim, cfg.num_samples
        _check_inputs(z_hist, z_goal, warm_start, (b, h, a))
        device = z_hist.device
        dtype = z_hist.dtype if z_hist.is_floating_point() else torch.float32
        gen = self.generator(device)
        start = time.perf_counter()
        with torch.inference_mode():
            if warm_start is None:
                mean = torch.zeros(b, h, a, device=device, dtype=dtype)
            else:
                mean = warm_start.to(device=device, dtype=dtype).clamp(cfg.action_low, cfg.action_high)
            std = torch.full((b, h, a), cfg.init_std, device=device, dtype=dtype)
            # Sample j of batch element i is row i*S + j, matching samples.reshape(B*S, H, A).
            z_rows = z_hist.repeat_interleave(s, dim=0)  # (B*S, T, D)
            best_actions = mean.clone()  # (B, H, A)
            best_cost = torch.full((b,), float("inf"), device=device, dtype=dtype)
            for it in range(cfg.iterations):
                noise = torch.randn(b, s, h, a, generator=gen, device=device, dtype=dtype)
                samples = mean.unsqueeze(1) + std.unsqueeze(1) * noise  # (B, S, H, A)
                samples[:, 0] = mean
                samples = samples.clamp(cfg.action_low, cfg.action_high)
                z_pred = model.rollout(z_rows, samples.reshape(b * s, h, a))  # (B*S, H, D)
                costs = objective.cost(z_pred.reshape(b, s, h, -1), z_goal)  # (B, S)
                # Non-finite costs (a diverging model) must never win.
                costs = torch.nan_to_num(costs, nan=float("inf"))

                it_cost, it_idx = costs.min(dim=1)  # (B,)
                better = it_cost < best_cost  # (B,)
                it_best = samples[torch.arange(b, device=device), it_idx]  # (B, H, A)
                best_actions = torch.where(better[:, None, None], it_best, best_actions)
                best_cost = torch.where(better, it_cost, best_cost)

                if it == cfg.iterations - 1:
                    break  # a refit now would never be evaluated
                new_mean, new_std = self.update(samples, costs, mean, std)
                mean = cfg.momentum * mean + (1.0 - cfg.momentum) * new_mean
                std = (cfg.momentum * std + (1.0 - cfg.momentum) * new_std).clamp_min(cfg.min_std)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        # Cloned outside inference mode so callers may modify them or use them with autograd.
        return PlanResult(
            actions=best_actions.clone(), cost=best_cost.clone(), iterations=cfg.iterations, seconds=seconds
        )


def _check_inputs(
    z_hist: Tensor, z_goal: Tensor, warm_start: Tensor | None, bha: tuple[int, int, int]
) -> None:
    """Shape errors that name the planner argument at fault, before a model sees them."""
    b, h, a = bha
    if z_hist.dim() != 3:
        raise ValueError(f"plan: z_hist must be (B, T, D), got {tuple(z_hist.shape)}")
    if z_goal.dim() != 2 or z_goal.shape[0] != b:
        raise ValueError(f"plan: z_goal must be (B={b}, D), got {tuple(z_goal.shape)}")
    if warm_start is not None and tuple(warm_start.shape) != (b, h, a):
        raise ValueError(
            f"plan: warm_start must be (B, H, A) = {(b, h, a)} from the batch and the planner config "
            f"(horizon, action_dim), got {tuple(warm_start.shape)}"
        )
