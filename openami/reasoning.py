"""Reasoning to a far goal: a path through the memory graph, its waypoints as subgoals for latent MPC.

At every model step the agent finds the remembered state (graph node) nearest to what
it sees, follows the shortest path from there toward the node nearest the goal image,
and hands the MPC planner the node ``subgoal_steps`` ahead on that path (or the goal
itself once it is near). It re-plans when the world surprises it (the observed embedding
is far from what the model predicted for the action taken) and when a subgoal proves
unreachable (``patience`` model steps without getting closer to the goal on the graph):
the model-judged edges on the way to that subgoal (else the last edge into it) are blocked
for the rest of the episode and the path searched again.
On surprise it re-localises and plans afresh from where it finds itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from openami.agent import Agent
from openami.config import Config, check
from openami.memory.graph import JUDGED, MemoryGraph


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
    """Model steps without getting closer to the goal on the graph before the edge followed counts as unreachable."""

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
        self._kinds = {(int(a), int(b)): int(k) for a, b, k in zip(graph.src, graph.dst, graph.kind, strict=True)}
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
        self._segment: list[tuple[int, int]] = []  # the path's edges from the current node to the subgoal
        self._stall, self._best, self._expected, self._plan_hist = 0, float("inf"), None, None

    def set_goal(self, image: np.ndarray) -> None:
        super().set_goal(image)
        self._final_goal = self.z_goal
        self._goal_node, _ = self.graph.nearest(self._final_goal[0].cpu())
        self._search()

    def _search(self) -> None:
        self._dist, self._next = self.graph.toward(self._goal_node, self.blocked)

    def _replan(self, why: str, block: bool) -> None:
        """Start planning afresh; if ``block``, first drop the edges to blame and search again."""
        edges = self._blame() if block else []
        self.events.append({"step": len(self.visited), "why": why, "blocked": [list(e) for e in edges]})
        if edges:
            self.blocked.update(edges)
            self._search()
        self.mpc.reset()  # the old plan aimed along a way that failed, or from a state we are not in
        self._stall, self._best = 0, float("inf")

    @torch.inference_mode()
    def on_model_step(self, z: Tensor) -> None:
        z_cpu = z[0].cpu()
        if self._expected is not None:  # surprise: how far is what we see from what the model foresaw?
            error = float((z_cpu - self._expected).norm())
            if error > self.reason.surprise * self.graph.node_radius:
                self._replan("surprise", block=False)  # re-localise below and plan from where we are
        node, _ = self.graph.nearest(z_cpu)
        self.visited.append(node)
        if self._segment:  # following the graph: is the way to the goal getting shorter?
            if self._dist[node] < self._best:
                self._best, self._stall = self._dist[node], 0
            else:
                self._stall += 1
                if self._stall >= self.reason.patience:
                    self._replan("unreachable", block=True)

        self.path = self._path_from(node)
        if not self.first_path:
            self.first_path = list(self.path)
        ahead = self._dist[node]
        final = not np.isfinite(ahead) or ahead <= self.reason.final_steps
        travelled, hops = 0.0, 0  # the path's first `hops` edges lead to the subgoal
        for a, b in zip(self.path[:-1], self.path[1:], strict=True):
            travelled += self._dist[a] - self._dist[b]
            hops += 1
            if travelled >= self.reason.subgoal_steps and not final:
                break
        self._segment = list(zip(self.path[:hops], self.path[1:hops + 1], strict=True))
        if final:  # near, or no path left: aim at the goal itself
            self.z_goal = self._final_goal
        else:
            self.z_goal = self._node_z[self.path[hops]][None].to(z.device)
        self._plan_hist = torch.stack(self._z_hist, dim=1)

    def _blame(self) -> list[tuple[int, int]]:
        """The edges to drop when the subgoal proves unreachable: the model's judgements on the way to it
        (a trip the agent was seen to make is more trustworthy), else the last edge into the subgoal."""
        judged = [e for e in self._segment if self._kinds.get(e) == JUDGED]
        return judged or self._segment[-1:]

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
            self._expected = self.eager_model.rollout(self._plan_hist, first)[0, 0].cpu()
        return action
