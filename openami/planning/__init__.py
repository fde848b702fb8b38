"""Planning in latent space: objectives, sampling planners (CEM, MPPI), receding-horizon control."""

from openami.planning.base import (
    PLANNERS,
    Planner,
    PlannerConfig,
    PlanResult,
    SamplingPlanner,
    WorldModelLike,
    make_planner,
)
from openami.planning.cem import CEMPlanner
from openami.planning.mpc import RecedingHorizon, shift_plan
from openami.planning.mppi import MPPIPlanner
from openami.planning.objectives import OBJECTIVES, Objective, SumObjective, TerminalObjective, make_objective

__all__ = [
    "OBJECTIVES",
    "PLANNERS",
    "CEMPlanner",
    "MPPIPlanner",
    "Objective",
    "PlanResult",
    "Planner",
    "PlannerConfig",
    "RecedingHorizon",
    "SamplingPlanner",
    "SumObjective",
    "TerminalObjective",
    "WorldModelLike",
    "make_objective",
    "make_planner",
    "shift_plan",
]
