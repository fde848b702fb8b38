"""Reasoning to a far goal: a path through the memory graph, its waypoints as subgoals for latent MPC.

At every model step the agent finds the remembered state (graph node) nearest to what
it sees, follows the shortest path from there toward the node nearest the goal image,
and hands the MPC planner the node ``subgoal_steps`` ahead on that path (or the goal
itself once it is near). It re-plans when the world surprises it (the observed embedding
is far from what the model predicted for the action taken) and when a subgoal proves
unreachable (no new node reached for ``patience`` model steps): the edge it was on is
blocked for the rest of the episode and the path is searched again without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from openami.agent import Agent
from openami.config import Config, check
from openami.memory.graph import MemoryGraph


@dataclass(frozen=True)
class ReasonConfig(Config):
    """How the agent turns a path through memory into subgoals."""

    subgoal_steps: float = 25.0
    """World steps along the path from the current node to the subgoal handed to the planner."""
    final_steps: float = 25.0
    """When the goal's node is at most this many steps away on the graph, aim at the goal image itself."""
    surprise: float = 3.0
    """Re-plan when the observed embedding is farther than this many node radii from the predicted one."""
    patience: int = 8
    """Model steps without reaching another node before the edge being followed counts as unreachable."""

    def __post_init__(self) -> None:
        check(self.subgoal_steps > 0 and self.final_steps >= 0, "reason.subgoal_steps must be positive and "
              f"reason.final_steps non-negative, got {self.subgoal_steps}, {self.final_steps}")
        check(self.surprise > 0, f"reason.surprise must be positive, got {self.surprise}")
        check(self.patience > 0, f"reason.patience must be positive, got {self.patience}")


class SubgoalAgent(Agent):
    """An MPC agent whose goal, at each model step, is the next waypoint of a path through memory."""

    def __init__(self, *args, graph: MemoryGraph, reason: ReasonConfig | None = None, **kwargs) -> None:
        self.graph, self.reason = graph, reason or ReasonConfig()
        self._node_z = torch.from_numpy(graph.node_z)
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()
        self.blocked: set[tuple[int, int]] = set()
        self.events: list[dict] = []  # re-plans and why, for the report
        self.visited: list[int] = []  # the node the agent was nearest at each model step
        self.path: list[int] = []  # the latest path, start node to goal node
        self.first_path: list[int] = []  # the path found at the start, for the picture
        self._final_goal: Tensor | None = None
        self._goal_node = -1
        self._stall, self._edge, self._expected, self._plan_hist = 0, None, None, None

    def set_goal(self, image: np.ndarray) -> None:
        super().set_goal(image)
        self._final_goal = self.z_goal
        self._goal_node, _ = self.graph.nearest(self._final_goal[0].cpu())
        self._search()

    def _search(self) -> None:
        self._dist, self._next = self.graph.toward(self._goal_node, self.blocked)

    def _block(self, why: str) -> None:
        if self._edge is not None:
            self.blocked.add(self._edge)
            self.events.append({"step": len(self.visited), "why": why, "edge": list(self._edge)})
            self._search()
            self.mpc.reset()  # the old plan aimed along the blocked edge
        self._stall, self._edge = 0, None

    @torch.inference_mode()
    def on_model_step(self, z: Tensor) -> None:
        z_cpu = z[0].cpu()
        if self._expected is not None:  # surprise: how far is what we see from what the model foresaw?
            error = float((z_cpu - self._expected).norm())
            if error > self.reason.surprise * self.graph.node_radius:
                self._block("surprise")
        node, _ = self.graph.nearest(z_cpu)
        if self.visited and node == self.visited[-1]:
            self._stall += 1
            if self._stall >= self.reason.patience:
                self._block("unreachable")
        else:
            self._stall = 0
        self.visited.append(node)

        self.path = self._path_from(node)
        if not self.first_path:
            self.first_path = list(self.path)
        ahead = self._dist[node]
        if not np.isfinite(ahead) or ahead <= self.reason.final_steps:
            self.z_goal, self._edge = self._final_goal, None  # near, or no path left: aim at the goal itself
        else:
            travelled, waypoint = 0.0, node
            for a, b in zip(self.path[:-1], self.path[1:], strict=True):
                travelled += self._dist[a] - self._dist[b]
                waypoint = b
                if travelled >= self.reason.subgoal_steps:
                    break
            if self._edge is None or self._edge[0] != node:
                self._edge = (node, self.path[1])
            self.z_goal = self._node_z[waypoint][None].to(z.device)
        self._plan_hist = torch.stack(self._z_hist, dim=1)

    def _path_from(self, node: int) -> list[int]:
        if not np.isfinite(self._dist[node]):
            return [node]
        path = [node]
        while path[-1] != self._goal_node and len(path) <= self.graph.num_nodes:
            path.append(int(self._next[path[-1]]))
        return path

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        planning = not self._queue
        action = super().act(obs)
        if planning and self.mpc.last is not None:  # what the model expects to see at the next model step
            first = self.mpc.last.actions[:, :1]
            self._expected = self.planned_model.rollout(self._plan_hist, first)[0, 0].cpu()
        return action
