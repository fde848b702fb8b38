"""Objectives score predicted latent trajectories against a goal latent: lower is better."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from torch import Tensor

from openami.registry import Registry


@runtime_checkable
class Objective(Protocol):
    """cost(z_pred: (B, S, H, D), z_goal: (B, D)) -> (B, S)."""

    def cost(self, z_pred: Tensor, z_goal: Tensor) -> Tensor: ...


OBJECTIVES: Registry[Callable[[], Objective]] = Registry("objective")


def make_objective(name: str) -> Objective:
    """Build the objective registered under `name` ("terminal", "sum")."""
    return OBJECTIVES.get(name)()


@OBJECTIVES.register("terminal")
class TerminalObjective:
    """Squared L2 distance from the last predicted latent to the goal."""

    def cost(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        diff = z_pred[:, :, -1] - z_goal[:, None]  # (B, S, D)
        return (diff**2).sum(dim=-1)  # (B, S)


@OBJECTIVES.register("sum")
class SumObjective:
    """Squared L2 distance to the goal summed over every horizon step.

    Rewarding early progress as well as the end point gives the search a smoother
    landscape and favours direct paths, which helps sampling planners a lot.
    """

    def cost(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        diff = z_pred - z_goal[:, None, None]  # (B, S, H, D)
        return (diff**2).sum(dim=-1).sum(dim=-1)  # (B, S)


@OBJECTIVES.register("closest")
class ClosestObjective:
    """Squared L2 distance of the predicted latent that comes closest to the goal, at any horizon step.

    It asks "can the goal be reached within H steps?", whatever happens after: the
    question the memory graph asks of each candidate edge.
    """

    def cost(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        diff = z_pred - z_goal[:, None, None]  # (B, S, H, D)
        return (diff**2).sum(dim=-1).amin(dim=-1)  # (B, S)
