"""A graph over remembered states: nodes cover the memory, edges are short trips the world model can make.

Nodes are a greedy cover of the memory's embeddings: an entry becomes a node unless it
lies within ``node_radius`` of one already chosen, so a node stands for every remembered
state around it. Edges come from two sources:

- **experienced**: consecutive memory entries of one episode whose nodes differ; the
  agent was seen to make that trip, so the edge is kept, weighted by the steps it took;
- **judged**: each node's nearest nodes in latent space (and the reverse of every
  experienced edge), kept only when the world model's planner finds actions whose
  predicted latent comes within ``node_radius`` of the neighbour in a few model steps.
  A neighbour behind a wall is near in pixels, but the model has learnt that walls stop
  the agent, so no action gets there and the edge is dropped.

Search: Dijkstra on the edge weights (world steps) toward the goal's node.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from openami.config import Config, check
from openami.memory.prune import greedy_cover
from openami.planning import make_objective, make_planner
from openami.planning.base import PlannerConfig, WorldModelLike

EXPERIENCED, JUDGED = 0, 1
GRAPH_FILE = "graph.npz"


@dataclass(frozen=True)
class GraphConfig(Config):
    """How the memory graph is built."""

    node_quantile: float = 0.5
    """Node radius = this quantile of the latent distance between consecutive memory entries."""
    node_scale: float = 1.0
    """Multiplies the node radius: larger makes fewer, coarser nodes."""
    neighbors: int = 8
    """Nearest nodes per node offered to the world model as candidate edges."""
    reach_horizon: int = 4
    """Model steps the planner may take to reach a candidate neighbour."""
    reach_samples: int = 64
    """Action sequences per candidate edge and planner iteration."""
    reach_iterations: int = 2
    """CEM iterations per candidate edge."""
    batch: int = 256
    """Candidate edges checked per batched planner call."""
    seed: int = 0

    def __post_init__(self) -> None:
        check(0 < self.node_quantile < 1, f"graph.node_quantile must be in (0, 1), got {self.node_quantile}")
        check(self.node_scale > 0, f"graph.node_scale must be positive, got {self.node_scale}")
        for name in ("neighbors", "reach_horizon", "reach_samples", "reach_iterations", "batch"):
            check(getattr(self, name) > 0, f"graph.{name} must be positive, got {getattr(self, name)}")


@dataclass
class MemoryGraph:
    """Nodes (memory entry ids and their embeddings) and weighted directed edges between them."""

    node_entries: np.ndarray  # (M,) int64 memory entry ids
    node_z: np.ndarray  # (M, D) float32
    src: np.ndarray  # (E,) int64 node indices
    dst: np.ndarray  # (E,) int64
    weight: np.ndarray  # (E,) float32, world steps
    kind: np.ndarray  # (E,) uint8: EXPERIENCED or JUDGED
    node_radius: float
    info: dict = field(default_factory=dict)  # what it was built from: entries, model hash, config

    @property
    def num_nodes(self) -> int:
        return len(self.node_entries)

    def nearest(self, z: torch.Tensor | np.ndarray) -> tuple[int, float]:
        """The node closest to one embedding z (D,), and its latent distance."""
        zq = torch.as_tensor(np.asarray(z, dtype=np.float32).reshape(1, -1))
        d = torch.cdist(zq, torch.from_numpy(self.node_z))[0]
        i = int(d.argmin())
        return i, float(d[i])

    def matrix(self, blocked: set[tuple[int, int]] = frozenset()) -> csr_matrix:
        """Sparse (M, M) matrix of edge weights, without the ``blocked`` (src, dst) edges."""
        keep = np.array([(s, d) not in blocked for s, d in zip(self.src, self.dst, strict=True)], dtype=bool) \
            if blocked else np.ones(len(self.src), dtype=bool)
        return csr_matrix((self.weight[keep], (self.src[keep], self.dst[keep])), shape=(self.num_nodes,) * 2)

    def toward(self, goal: int, blocked: set[tuple[int, int]] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
        """Steps from every node to ``goal`` and each node's next hop on its shortest path (-1: none)."""
        # Shortest paths *to* the goal are shortest paths from it in the reversed graph, where
        # the predecessor of a node is its next hop forward.
        dist, pred = dijkstra(self.matrix(blocked).T.tocsr(), indices=goal, return_predecessors=True)
        pred = np.where(pred < 0, -1, pred)
        return dist, pred

    def path(self, start: int, goal: int, blocked: set[tuple[int, int]] = frozenset()) -> list[int]:
        """Nodes of the shortest path from start to goal (both included); [] if there is none."""
        dist, next_hop = self.toward(goal, blocked)
        if not np.isfinite(dist[start]):
            return []
        nodes = [start]
        while nodes[-1] != goal:
            nodes.append(int(next_hop[nodes[-1]]))
        return nodes

    def save(self, directory: str | Path) -> Path:
        """Write ``graph.npz`` into the memory's directory, atomically (a crash leaves the old graph)."""
        path = Path(directory) / GRAPH_FILE
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, node_entries=self.node_entries, node_z=self.node_z, src=self.src, dst=self.dst,
                     weight=self.weight, kind=self.kind, node_radius=np.float64(self.node_radius),
                     info=np.array(json.dumps(self.info)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> MemoryGraph:
        path = Path(directory) / GRAPH_FILE
        if not path.exists():
            raise FileNotFoundError(f"no memory graph at {path}; build it with `ami memory graph --memory "
                                    f"{directory} --run RUN`")
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(f["node_entries"], f["node_z"], f["src"], f["dst"], f["weight"], f["kind"],
                           float(f["node_radius"]), json.loads(str(f["info"])))
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path} is not a readable memory graph ({err}); rebuild it with "
                             f"`ami memory graph --memory {directory} --run RUN`") from None


def node_radius(z: np.ndarray, episode: np.ndarray, step: np.ndarray, config: GraphConfig) -> float:
    """The latent distance that counts as 'the same place': a quantile of consecutive entries' distances."""
    order = np.lexsort((step, episode))
    same = episode[order][1:] == episode[order][:-1]
    if not same.any():
        raise ValueError("the memory holds no two entries of one episode, so it cannot tell how far the agent "
                         "moves in a step; add whole episodes (ami memory add --data ...)")
    gaps = np.linalg.norm(z[order][1:][same] - z[order][:-1][same], axis=1)
    return float(np.quantile(gaps, config.node_quantile) * config.node_scale)


def nearest_node(z: torch.Tensor, node_z: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest node for every row of z (N, D)."""
    return torch.cat([torch.cdist(z[lo:lo + chunk], node_z).argmin(dim=1)
                      for lo in range(0, len(z), chunk)]).numpy()


@torch.inference_mode()
def reachable(model: WorldModelLike, z_from: torch.Tensor, z_to: torch.Tensor, radius: float, frameskip: int,
              action_dim: int, config: GraphConfig, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Ask the planner whether each z_from (E, D) can be driven within ``radius`` of z_to (E, D).

    Returns (reached (E,) bool, world steps of the first predicted latent within radius (E,)).
    """
    planner = make_planner("cem", PlannerConfig(action_dim=action_dim, horizon=config.reach_horizon,
                                                num_samples=config.reach_samples,
                                                iterations=config.reach_iterations, seed=config.seed))
    objective = make_objective("closest")
    reached, steps = [], []
    for lo in tqdm(range(0, len(z_from), config.batch), desc="judge edges", disable=not progress,
                   dynamic_ncols=True):
        zf, zt = z_from[lo:lo + config.batch], z_to[lo:lo + config.batch]
        result = planner.plan(model, objective, zf[:, None], zt)
        z_pred = model.rollout(zf[:, None], result.actions)  # (B, H, D)
        dist = (z_pred - zt[:, None]).norm(dim=-1)  # (B, H)
        hit = dist <= radius
        first = torch.where(hit.any(dim=1), hit.float().argmax(dim=1) + 1, torch.full_like(dist[:, 0], -1).long())
        reached.append(hit.any(dim=1).numpy())
        steps.append((first * frameskip).numpy())
    return np.concatenate(reached), np.concatenate(steps).astype(np.float32)


def build_graph(model: WorldModelLike, z: np.ndarray, entries: np.ndarray, episode: np.ndarray,
                step: np.ndarray, frameskip: int, action_dim: int, config: GraphConfig | None = None,
                progress: bool = True) -> MemoryGraph:
    """Build the graph over memory entries (ids ``entries``) with embeddings z (N, D).

    ``model`` plans held actions (one per model step of ``frameskip`` world steps) of size ``action_dim``.
    """
    config = config or GraphConfig()
    z = np.ascontiguousarray(z, dtype=np.float32)
    radius = node_radius(z, episode, step, config)
    zt = torch.from_numpy(z)
    chosen = np.flatnonzero(greedy_cover(z, radius))  # the same cover as `ami memory prune --min-distance`
    node_z = zt[chosen]
    rep = nearest_node(zt, node_z)

    # Experienced edges: trips seen in the memory's own episodes, weighted by the fewest steps seen.
    order = np.lexsort((step, episode))
    a, b = order[:-1], order[1:]
    seen = (episode[a] == episode[b]) & (rep[a] != rep[b])
    experienced: dict[tuple[int, int], float] = {}
    for i, j, gap in zip(rep[a][seen], rep[b][seen], (step[b] - step[a])[seen], strict=True):
        key = (int(i), int(j))
        experienced[key] = min(experienced.get(key, np.inf), float(gap))

    # Judged candidates: latent neighbours and the reverse of each experienced trip.
    k = min(config.neighbors, len(chosen) - 1)
    candidates: set[tuple[int, int]] = set()
    if k > 0:
        near = torch.cdist(node_z, node_z).topk(k + 1, largest=False).indices[:, 1:].numpy()
        candidates |= {(i, int(j)) for i in range(len(chosen)) for j in near[i]}
    candidates |= {(j, i) for i, j in experienced}
    candidates -= set(experienced)
    pairs = np.array(sorted(candidates), dtype=np.int64).reshape(-1, 2)
    ok, steps = reachable(model, node_z[pairs[:, 0]], node_z[pairs[:, 1]], radius, frameskip, action_dim,
                          config, progress)

    src = np.concatenate([np.array([e[0] for e in experienced], dtype=np.int64), pairs[ok, 0]])
    dst = np.concatenate([np.array([e[1] for e in experienced], dtype=np.int64), pairs[ok, 1]])
    weight = np.concatenate([np.array(list(experienced.values()), dtype=np.float32), steps[ok]])
    kind = np.concatenate([np.full(len(experienced), EXPERIENCED, np.uint8), np.full(int(ok.sum()), JUDGED, np.uint8)])
    info = {"entries": int(len(z)), "candidates_judged": int(len(pairs)), "candidates_kept": int(ok.sum()),
            "config": config.to_dict()}
    return MemoryGraph(entries[chosen].astype(np.int64), node_z.numpy(), src, dst, weight, kind, radius, info)
