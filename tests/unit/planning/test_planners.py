"""Contract tests for every registered planner, with exact tiny doubles."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from openami.config import ConfigError
from openami.planning import (
    OBJECTIVES,
    PLANNERS,
    Objective,
    Planner,
    PlannerConfig,
    RecedingHorizon,
    WorldModelLike,
    make_objective,
    make_planner,
    shift_plan,
)

A = 2
CONFIG = PlannerConfig(action_dim=A, horizon=5, num_samples=128, iterations=15, elite_fraction=0.1)


class PositionModel:
    """The latent is the position itself; an action is a displacement."""

    def __init__(self) -> None:
        self.calls: list[Tensor] = []  # the actions of every rollout call

    def encode(self, obs: Tensor) -> Tensor:
        return obs  # (B, T, D)

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:
        self.calls.append(actions.clone())
        return z_hist[:, -1:] + actions.cumsum(dim=1)  # (B, H, D)


class ActionModel(PositionModel):
    """The predicted latents are the actions: a cost on latents is a cost on actions."""

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:
        self.calls.append(actions.clone())
        return actions.clone()  # (B, H, A)


class TargetSequence:
    """Quadratic cost around a fixed target action sequence (H, A); ignores the goal."""

    def __init__(self, target: Tensor) -> None:
        self.target = target

    def cost(self, z_pred: Tensor, z_goal: Tensor) -> Tensor:
        return ((z_pred - self.target) ** 2).sum(dim=(-1, -2))  # (B, S)


def start(b: int = 1) -> Tensor:
    return torch.zeros(b, 3, A)  # (B, T, D): a history of three latents at the origin


@pytest.fixture(params=PLANNERS.names())
def planner_name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_doubles_and_components_satisfy_protocols(planner_name: str) -> None:
    assert isinstance(PositionModel(), WorldModelLike)
    assert isinstance(make_planner(planner_name, CONFIG), Planner)
    for name in OBJECTIVES:
        assert isinstance(make_objective(name), Objective)
    assert isinstance(TargetSequence(torch.zeros(5, A)), Objective)


def test_objectives_known_values() -> None:
    z_pred = torch.tensor([[[[1.0, 0.0], [2.0, 0.0]]]])  # (B=1, S=1, H=2, D=2)
    goal = torch.tensor([[2.0, 1.0]])
    assert make_objective("terminal").cost(z_pred, goal).tolist() == [[1.0]]
    assert make_objective("sum").cost(z_pred, goal).tolist() == [[3.0]]


def test_terminal_objective_reaches_goal(planner_name: str) -> None:
    model, goal = PositionModel(), torch.tensor([[1.5, -2.0]])
    result = make_planner(planner_name, CONFIG).plan(model, make_objective("terminal"), start(), goal)
    final = model.rollout(start(), result.actions)[:, -1]
    assert (final - goal).norm() < 0.05
    assert result.cost.shape == (1,)
    assert result.cost.item() == pytest.approx(((final - goal) ** 2).sum().item(), abs=1e-6)
    assert result.iterations == CONFIG.iterations and result.seconds > 0


def test_momentum_and_min_std_still_converge(planner_name: str) -> None:
    model, goal = PositionModel(), torch.tensor([[-1.0, 2.5]])
    config = CONFIG.replace(momentum=0.3, min_std=0.05, iterations=20)
    result = make_planner(planner_name, config).plan(model, make_objective("terminal"), start(), goal)
    assert (model.rollout(start(), result.actions)[:, -1] - goal).norm() < 0.05


def test_sum_objective_reduces_cost(planner_name: str) -> None:
    model, goal = PositionModel(), torch.tensor([[2.0, -1.5]])
    objective = make_objective("sum")
    zero_cost = CONFIG.horizon * (goal**2).sum().item()
    # Best possible: full speed on each axis until there: x errors 1, 0, ...; y errors 0.5^2.
    optimum = 1.0 + 0.25
    result = make_planner(planner_name, CONFIG).plan(model, objective, start(), goal)
    assert result.cost.item() < optimum + 0.1 * (zero_cost - optimum)


def test_quadratic_action_cost_reaches_target(planner_name: str) -> None:
    target = torch.rand(CONFIG.horizon, A, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    config = CONFIG.replace(iterations=25)
    planner = make_planner(planner_name, config)
    result = planner.plan(ActionModel(), TargetSequence(target), start(), start()[:, 0])
    assert (result.actions[0] - target).abs().max() < 0.05


def test_samples_are_clamped_to_bounds(planner_name: str) -> None:
    config = CONFIG.replace(action_low=-0.5, action_high=0.25, init_std=2.0)
    model = PositionModel()
    goal = torch.tensor([[10.0, -10.0]])  # out of reach: the search pushes on both bounds
    result = make_planner(planner_name, config).plan(model, make_objective("terminal"), start(), goal)
    seen = torch.cat(model.calls)
    assert seen.min() >= -0.5 and seen.max() <= 0.25
    assert seen.min() == -0.5 and seen.max() == 0.25
    # Full speed towards the goal on both axes, as far as the bounds allow.
    assert torch.allclose(result.actions[0, :, 0], torch.full((config.horizon,), 0.25), atol=0.02)
    assert torch.allclose(result.actions[0, :, 1], torch.full((config.horizon,), -0.5), atol=0.02)


def test_same_seed_same_actions(planner_name: str) -> None:
    goal, objective = torch.tensor([[1.0, 0.5]]), make_objective("sum")
    runs = [
        make_planner(planner_name, CONFIG.replace(seed=seed)).plan(PositionModel(), objective, start(), goal)
        for seed in (3, 3, 4)
    ]
    assert torch.equal(runs[0].actions, runs[1].actions)
    assert not torch.equal(runs[0].actions, runs[2].actions)


def test_optimal_warm_start_is_kept(planner_name: str) -> None:
    target = torch.full((CONFIG.horizon, A), 0.3)
    objective = TargetSequence(target)
    result = make_planner(planner_name, CONFIG).plan(
        ActionModel(), objective, start(), start()[:, 0], warm_start=target[None].clone()
    )
    assert result.cost.item() == 0.0
    assert torch.equal(result.actions[0], target)


def test_one_batched_rollout_per_iteration(planner_name: str) -> None:
    model, b = PositionModel(), 3
    make_planner(planner_name, CONFIG).plan(model, make_objective("terminal"), start(b), torch.ones(b, A))
    assert len(model.calls) == CONFIG.iterations
    assert all(c.shape == (b * CONFIG.num_samples, CONFIG.horizon, A) for c in model.calls)


def test_batch_elements_are_planned_independently(planner_name: str) -> None:
    model = PositionModel()
    z_hist = start(2)
    z_hist[1] += torch.tensor([1.0, 1.0])  # the second element starts elsewhere
    goals = torch.tensor([[1.5, -2.0], [-1.0, 3.0]])
    result = make_planner(planner_name, CONFIG).plan(model, make_objective("terminal"), z_hist, goals)
    final = model.rollout(z_hist, result.actions)[:, -1]
    assert ((final - goals).norm(dim=-1) < 0.05).all()


def test_receding_horizon_reaches_goal_in_closed_loop(planner_name: str) -> None:
    model, goal = PositionModel(), torch.tensor([[4.0, -3.0]])  # several horizons of travel away
    mpc = RecedingHorizon(make_planner(planner_name, CONFIG), make_objective("sum"))
    position, errors = torch.zeros(1, A), []
    for _ in range(12):
        action = mpc.act(model, position[:, None], goal)
        assert action.shape == (1, A)
        position = position + action  # the "world" step
        errors.append((position - goal).norm().item())
    assert errors[3] < 0.2  # 4 steps at full speed are needed, and suffice
    assert max(errors[-5:]) < 0.2  # then it holds there, up to the sampling noise of a replan
    assert mpc.last is not None
    mpc.reset()
    assert mpc.last is None


def test_shift_plan_drops_first_and_repeats_last() -> None:
    actions = torch.arange(6.0).reshape(1, 3, 2)
    assert shift_plan(actions).tolist() == [[[2.0, 3.0], [4.0, 5.0], [4.0, 5.0]]]


def test_wrong_warm_start_shape_is_a_clear_error() -> None:
    planner = make_planner("cem", CONFIG)
    with pytest.raises(ValueError, match="warm_start"):
        planner.plan(PositionModel(), make_objective("sum"), start(), torch.ones(1, A), torch.zeros(1, 4, A))


@pytest.mark.parametrize(
    "changes",
    [
        {"horizon": 0},
        {"num_samples": -1},
        {"elite_fraction": 0.0},
        {"elite_fraction": 1.5},
        {"temperature": 0.0},
        {"action_low": 1.0, "action_high": 1.0},
        {"momentum": 1.0},
        {"min_std": 2.0},
    ],
)
def test_config_rejects_bad_values(changes: dict) -> None:
    with pytest.raises(ConfigError):
        CONFIG.replace(**changes)


def test_config_round_trips_and_names_unknown_keys() -> None:
    assert PlannerConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ConfigError, match="num_samples"):
        PlannerConfig.from_dict({"action_dim": 2, "num_sample": 10})
