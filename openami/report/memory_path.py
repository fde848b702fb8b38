"""The picture of a far-goal episode: the memory graph over the world, the chosen path, the way taken."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402


def plot_memory_path(background: np.ndarray, node_xy: np.ndarray, src: np.ndarray, dst: np.ndarray,
                     path: list[int], trajectory: np.ndarray, start: np.ndarray, goal: np.ndarray,
                     out: str | Path, arena_width: float = 1.0, title: str = "") -> Path:
    """Draw on the world's empty image (H, W, 3): graph edges, nodes, the first planned path, the trajectory.

    Node and trajectory positions (x, y) are true states, used only to draw: the agent never sees them.
    """
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(background, extent=(0, arena_width, 0, arena_width), interpolation="nearest")
    edges = np.stack([node_xy[src], node_xy[dst]], axis=1)  # (E, 2, 2)
    ax.add_collection(LineCollection(edges, colors=(0.3, 0.3, 0.3, 0.25), linewidths=0.5))
    ax.scatter(node_xy[:, 0], node_xy[:, 1], s=4, color="0.35", label=f"memory graph ({len(node_xy)} nodes)")
    if len(path) > 1:
        ax.plot(node_xy[path, 0], node_xy[path, 1], "-o", color="tab:orange", lw=2.5, ms=4,
                label="path found in memory")
    ax.plot(trajectory[:, 0], trajectory[:, 1], color="tab:blue", lw=1.5, label="what the agent did")
    ax.plot(*start, "s", color="tab:green", ms=10, label="start")
    ax.plot(*goal, "*", color="tab:red", ms=16, label="goal")
    ax.set_xlim(0, arena_width)
    ax.set_ylim(0, arena_width)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
