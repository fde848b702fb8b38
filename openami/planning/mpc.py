"""Receding-horizon control: replan every step, warm-started from the previous plan shifted by one."""

from __future__ import annotations

import torch
from torch import Tensor

from openami.planning.base import Planner, PlanResult, WorldModelLike
from openami.planning.objectives import Objective


def shift_plan(actions: Tensor) -> Tensor:
    """Drop the executed first step and repeat the last; actions: (B, H, A) -> (B, H, A).

    Repeating the last action (rather than appending zeros) keeps a plan that was
    heading somewhere heading there, which is the better guess for the new last step.
    """
    return torch.cat([actions[:, 1:], actions[:, -1:]], dim=1)


class RecedingHorizon:
    """Model-predictive control around a planner: plan H steps, act one, replan."""

    def __init__(self, planner: Planner, objective: Objective) -> None:
        self.planner = planner
        self.objective = objective
        self.last: PlanResult | None = None  # the latest plan, for logging and warm starts

    def reset(self) -> None:
        """Forget the previous plan (call at the start of every episode)."""
        self.last = None

    def act(self, model: WorldModelLike, z_hist: Tensor, z_goal: Tensor) -> Tensor:
        """The first action (B, A) of a fresh plan for z_hist: (B, T, D) towards z_goal: (B, D)."""
        warm_start = None if self.last is None else shift_plan(self.last.actions)
        if warm_start is not None and warm_start.shape[0] != z_hist.shape[0]:
            warm_start = None  # the batch changed size: the old plan does not apply
        self.last = self.planner.plan(model, self.objective, z_hist, z_goal, warm_start=warm_start)
        return self.last.actions[:, 0]
