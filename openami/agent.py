"""The agent: observe -> plan in latent space -> act, with receding-horizon MPC.

One model step spans `frameskip` world steps, so the agent plans once per model
step and then plays that step's `frameskip` actions from a queue.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor

from openami.device import resolve_device
from openami.models import WorldModel
from openami.planning import make_objective, make_planner
from openami.planning.base import PlannerConfig
from openami.planning.mpc import RecedingHorizon


class HeldActions:
    """Plans one world action per model step, held for its `frameskip` world steps.

    The model's action is the concatenation of `frameskip` world actions. Sampling them
    independently makes sampled paths diffuse (the actions average out) and multiplies
    the search space by `frameskip`; holding each one makes paths travel, as the
    momentum-walk training data does, and the planner searches H x A numbers, not H x f x A.
    """

    def __init__(self, model: WorldModel, frameskip: int) -> None:
        self.model, self.frameskip = model, frameskip

    def encode(self, obs: Tensor) -> Tensor:
        return self.model.encode(obs)

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:  # actions (B, H, A) -> (B, H, D)
        return self.model.rollout(z_hist, actions.repeat(1, 1, self.frameskip))


class CompiledRollouts:
    """A planned model whose `rollout` runs through torch.compile (fixed shapes: one compile per shape)."""

    def __init__(self, model: HeldActions | WorldModel) -> None:
        self.model = model
        self.rollout = torch.compile(model.rollout, dynamic=False)

    def encode(self, obs: Tensor) -> Tensor:
        return self.model.encode(obs)


class Agent:
    """Plans toward a goal image with a world model; `act(obs)` returns a world action."""

    def __init__(self, model: WorldModel, planner: str, planner_config: PlannerConfig, objective: str,
                 frameskip: int, world_action_dim: int, device: str | torch.device = "cpu",
                 hold_actions: bool = True, compile_rollouts: bool = False) -> None:
        self.frameskip, self.world_action_dim, self.hold_actions = frameskip, world_action_dim, hold_actions
        self.model = model
        self.eager_model = HeldActions(model, frameskip) if hold_actions else model
        # One-off predictions (a subgoal agent's expected next latent, batch 1) use `eager_model`:
        # a compiled rollout would compile again for that second shape.
        self.planned_model = CompiledRollouts(self.eager_model) if compile_rollouts else self.eager_model
        self.device = resolve_device(device)
        self.mpc = RecedingHorizon(make_planner(planner, planner_config), make_objective(objective))
        self.history = model.config.history
        self.plan_seconds: list[float] = []
        self.z_goal: Tensor | None = None
        self.reset()

    def reset(self) -> None:
        self.mpc.reset()
        self._queue: list[np.ndarray] = []
        self._z_hist: list[Tensor] = []
        self.plan_seconds = []

    @torch.inference_mode()
    def encode_image(self, image: np.ndarray) -> Tensor:
        """image uint8 (H, W, C) -> z (1, D)."""
        pixels = torch.tensor(np.asarray(image), device=self.device)  # a copy: frames may be read-only
        return self.model.encode(pixels.permute(2, 0, 1)[None, None])[:, 0]

    def set_goal(self, image: np.ndarray) -> None:
        self.reset()
        self.z_goal = self.encode_image(image)  # encoded once per goal, never per plan

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.z_goal is None:
            raise RuntimeError("call set_goal(image) before act(obs)")
        if not self._queue:
            z = self.encode_image(obs)
            self._z_hist = (self._z_hist + [z])[-self.history:]
            self.on_model_step(z)
            began = time.perf_counter()
            action = self.mpc.act(self.planned_model, torch.stack(self._z_hist, dim=1), self.z_goal)
            self.plan_seconds.append(time.perf_counter() - began)
            if self.hold_actions:  # (1, A): the same action for the whole model step
                action = action.repeat(1, self.frameskip)
            self._queue = list(action[0].view(self.frameskip, self.world_action_dim).cpu().numpy())
        return self._queue.pop(0)

    def on_model_step(self, z: Tensor) -> None:
        """Called with each new embedding (1, D) before planning; subclasses may change the goal here."""
