"""The memory graph and the subgoal agent: search on hand-made graphs, far goals in a tiny maze.

The maze tests use an exact world-model double: its embedding is the agent's position (read
from the red pixels) and its rollout moves positions with the maze's own wall rule, vectorised.
It makes the graph's judgements and the agent's behaviour checkable without training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from openami.data.collect import rollout_policy
from openami.data.policies import PolicyConfig
from openami.evaluation.planning import run_episode
from openami.evaluation.protocols import Task
from openami.memory.graph import EXPERIENCED, JUDGED, GraphConfig, MemoryGraph, build_graph
from openami.planning.base import PlannerConfig
from openami.reasoning import ReasonConfig, SubgoalAgent
from openami.worlds import make_world
from openami.worlds.maze import AGENT_RADIUS, MAX_STEP, MazeEnv

SCALE = 10.0  # embedding = SCALE * position, so one step is 0.15 in latent units
FRAMESKIP = 5


def _graph(edges: list[tuple[int, int, float]], n: int) -> MemoryGraph:
    src, dst, w = (np.array(v) for v in zip(*edges, strict=True))
    return MemoryGraph(np.arange(n), np.eye(n, dtype=np.float32), src.astype(np.int64), dst.astype(np.int64),
                       w.astype(np.float32), np.zeros(len(edges), np.uint8), 0.5)


def test_shortest_path_on_a_hand_made_graph() -> None:
    # 0 -> 1 -> 3 costs 2; 0 -> 2 -> 3 costs 1 + 5; 3 -> 4 only one way; 5 is cut off.
    graph = _graph([(0, 1, 1), (1, 3, 1), (0, 2, 1), (2, 3, 5), (3, 4, 1), (4, 3, 9)], 6)
    assert graph.path(0, 4) == [0, 1, 3, 4]
    assert graph.path(4, 0) == []  # edges are directed
    assert graph.path(0, 5) == []
    assert graph.path(2, 2) == [2]
    assert graph.path(0, 3, blocked={(1, 3)}) == [0, 2, 3]
    dist, _ = graph.toward(4)
    assert dist.tolist()[:5] == [3, 2, 6, 1, 0]


def test_graph_round_trip(tmp_path) -> None:
    graph = _graph([(0, 1, 2.5), (1, 0, 3)], 2)
    graph.info = {"model_sha256": "ab"}
    graph.save(tmp_path)
    again = MemoryGraph.load(tmp_path)
    assert again.path(0, 1) == [0, 1] and again.info == {"model_sha256": "ab"}
    assert np.array_equal(again.weight, graph.weight) and again.node_radius == graph.node_radius
    (tmp_path / "graph.npz").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="rebuild it"):
        MemoryGraph.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="ami memory graph"):
        MemoryGraph.load(tmp_path / "elsewhere")


@dataclass(frozen=True)
class _Config:
    history: int = 1


class ExactMazeModel(torch.nn.Module):
    """Embedding = SCALE * agent position; rollout = the maze's wall rule applied to world actions."""

    def __init__(self, maze: MazeEnv) -> None:
        super().__init__()
        self.config = _Config()
        self.maze = maze
        self._anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device
        self.grown = torch.tensor(maze._grown, dtype=torch.float32)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:  # (B, T, C, H, W) -> (B, T, 2)
        empty = torch.from_numpy(self.maze.empty_image()).permute(2, 0, 1).float()
        weight = (obs.float() - empty).abs().sum(dim=2)  # (B, T, H, W): where the agent covers the floor
        weight = weight / weight.sum(dim=(-1, -2), keepdim=True).clamp_min(1e-6)
        size = obs.shape[-1]
        rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
        x = (weight * cols).sum(dim=(-1, -2)) / size
        y = 1 - (weight * rows).sum(dim=(-1, -2)) / size
        return torch.stack([x, y], dim=-1) * SCALE

    def rollout(self, z_hist: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        position = z_hist[:, -1] / SCALE  # (B, 2)
        world = actions.view(actions.shape[0], actions.shape[1], -1, 2)  # (B, H, f, 2)
        out = []
        for h in range(world.shape[1]):
            for f in range(world.shape[2]):
                position = self._move(position, world[:, h, f].clamp(-1, 1) * MAX_STEP)
            out.append(position * SCALE)
        return torch.stack(out, dim=1)

    def _move(self, p: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        g, lo, hi, tol = self.grown, AGENT_RADIUS, 1 - AGENT_RADIUS, 0.005
        # `tol`: a position read from pixels may sit a hair inside a wall it touches; that wall still stops it.
        x, y = p[:, :1], p[:, 1:]
        nx = (x + d[:, :1]).clamp(lo, hi)
        across = (g[:, 2] + tol < y) & (y < g[:, 3] - tol)  # (B, W)
        inf = torch.tensor(float("inf"))
        right = torch.where(across & (g[:, 0] >= x - tol) & (g[:, 0] < nx), g[:, 0], inf).amin(dim=1, keepdim=True)
        left = torch.where(across & (g[:, 1] <= x + tol) & (g[:, 1] > nx), g[:, 1], -inf).amax(dim=1, keepdim=True)
        nx = torch.minimum(torch.maximum(nx, left), right)
        ny = (y + d[:, 1:]).clamp(lo, hi)
        across = (g[:, 0] + tol < nx) & (nx < g[:, 1] - tol)
        up = torch.where(across & (g[:, 2] >= y - tol) & (g[:, 2] < ny), g[:, 2], inf).amin(dim=1, keepdim=True)
        down = torch.where(across & (g[:, 3] <= y + tol) & (g[:, 3] > ny), g[:, 3], -inf).amax(dim=1, keepdim=True)
        return torch.cat([nx, torch.minimum(torch.maximum(ny, down), up)], dim=1)


@pytest.fixture(scope="module")
def small_maze():
    env = make_world("maze", layout="small")
    model = ExactMazeModel(env.unwrapped)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    z, states, episode, step = [], [], [], []
    for e in range(40):  # the agent's experience: momentum walks, every 5th frame remembered
        pixels, _, s = rollout_policy(env, PolicyConfig(), low, high, 100 + e, 120)
        with torch.no_grad():
            z.append(model.encode(torch.from_numpy(pixels[::5]).permute(0, 3, 1, 2)[None])[0].numpy())
        states.append(s[::5])
        episode.append(np.full(len(s[::5]), e))
        step.append(np.arange(0, len(s), 5))
    z, states, episode, step = (np.concatenate(v) for v in (z, states, episode, step))
    from openami.agent import HeldActions

    graph = build_graph(HeldActions(model, FRAMESKIP), z, np.arange(len(z)), episode, step, FRAMESKIP, 2,
                        GraphConfig(reach_samples=32), progress=False)
    return env, model, graph, states


def test_encoder_double_reads_the_position(small_maze) -> None:
    env, model, _, _ = small_maze
    obs, info = env.reset(seed=1)
    z = model.encode(torch.from_numpy(obs).permute(2, 0, 1)[None, None])[0, 0] / SCALE
    assert np.allclose(z.numpy(), info["state"], atol=0.003)


def test_judged_edges_never_go_through_walls(small_maze) -> None:
    env, _, graph, states = small_maze
    maze = env.unwrapped
    xy = states[graph.node_entries]
    assert (graph.kind == JUDGED).any() and (graph.kind == EXPERIENCED).any()
    slack = 2 * graph.node_radius / SCALE / MAX_STEP + 2  # a node stands for states up to a radius away
    for a, b, w in zip(graph.src, graph.dst, graph.weight, strict=True):
        assert maze.path_steps(xy[a], xy[b]) <= w + slack  # a short trip, never through a wall


def test_subgoal_agent_reaches_a_far_goal_the_flat_agent_cannot(small_maze) -> None:
    env, model, graph, _ = small_maze
    maze = env.unwrapped
    # Start and goal in rooms that share a wall without a door: the straight way is blocked.
    walled = next((a, b) for a, b in ((0, 1), (2, 3), (0, 2), (1, 3)) if (a, b) not in maze.doors)
    rng = np.random.default_rng(0)
    start, goal = maze.sample_free_position(rng, walled[0]), maze.sample_free_position(rng, walled[1])
    assert maze.path_steps(start, goal) > 40
    search = PlannerConfig(action_dim=2, horizon=6, num_samples=64, iterations=2)
    results = {}
    for name in ("memory", "flat"):
        kwargs = {"graph": graph, "reason": ReasonConfig()} if name == "memory" else {}
        agent_class = SubgoalAgent if name == "memory" else SubgoalAgent.__mro__[1]
        agent = agent_class(model, "cem", search, "sum", FRAMESKIP, 2, **kwargs)
        results[name] = run_episode(env, agent, Task(start, goal), budget=250, radius=0.05)
    assert results["memory"]["success"]
    assert not results["flat"]["success"]


def _walled_task(maze: MazeEnv) -> tuple[np.ndarray, np.ndarray]:
    """Start and goal in two rooms that share a wall without a door: the straight way is blocked."""
    walled = next((a, b) for a, b in ((0, 1), (2, 3), (0, 2), (1, 3)) if (a, b) not in maze.doors)
    rng = np.random.default_rng(0)
    return maze.sample_free_position(rng, walled[0]), maze.sample_free_position(rng, walled[1])


def _subgoal_agent(model, graph, **reason) -> SubgoalAgent:
    search = PlannerConfig(action_dim=2, horizon=6, num_samples=64, iterations=2)
    return SubgoalAgent(model, "cem", search, "sum", FRAMESKIP, 2, graph=graph, reason=ReasonConfig(**reason))


def test_an_edge_that_proves_unreachable_is_blocked_and_the_way_found_again(small_maze) -> None:
    env, model, graph, states = small_maze
    start, goal = _walled_task(env.unwrapped)
    xy = states[graph.node_entries]
    a, b = (int(np.linalg.norm(xy - p, axis=1).argmin()) for p in (start, goal))
    wormhole = MemoryGraph(graph.node_entries, graph.node_z, np.append(graph.src, a), np.append(graph.dst, b),
                           np.append(graph.weight, 1.0).astype(np.float32), np.append(graph.kind, JUDGED),
                           graph.node_radius)  # a false edge straight through the wall
    agent = _subgoal_agent(model, wormhole, patience=3)
    result = run_episode(env, agent, Task(start, goal), budget=400, radius=0.05)
    assert result["success"]
    assert any(e["why"] == "unreachable" for e in agent.events)
    assert (a, b) in agent.blocked  # the false edge, not the true ones around it


class _Teleport:
    """Moves the agent back to the start once, at world step ``at``: a surprise no model foresees."""

    def __init__(self, env, at: int) -> None:
        self.env, self.at, self.unwrapped, self.t = env, at, env.unwrapped, 0

    def reset(self, **kwargs):
        self.t, self.start = 0, kwargs["options"]["state"]
        return self.env.reset(**kwargs)

    def step(self, action):
        self.t += 1
        if self.t == self.at:
            self.env.reset(options={"state": self.start})
        return self.env.step(action)


def test_surprise_makes_the_agent_replan_from_where_it_is(small_maze) -> None:
    env, model, graph, _ = small_maze
    start, goal = _walled_task(env.unwrapped)
    agent = _subgoal_agent(model, graph)
    result = run_episode(_Teleport(env, at=31), agent, Task(start, goal), budget=400, radius=0.05)
    assert result["success"]
    assert [e["why"] for e in agent.events].count("surprise") == 1
