"""Pictures of physical understanding: probe scores, surprise curves, open-loop error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, out: str | Path) -> Path:
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_probes(result: dict[str, Any], out: str | Path) -> Path:
    """R² per quantity: linear and MLP probes on the trained and the random encoder."""
    names = list(result["quantities"])
    bars = [("trained", "linear", "tab:blue"), ("trained", "mlp", "tab:cyan"),
            ("random", "linear", "tab:gray"), ("random", "mlp", "silver")]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(names) + 2), 3.8))
    width = 0.8 / len(bars)
    x = np.arange(len(names))
    for i, (encoder, kind, colour) in enumerate(bars):
        values = [result["quantities"][n].get(encoder, {}).get(kind, {}).get("r2", np.nan) for n in names]
        if np.all(np.isnan(values)):
            continue
        ax.bar(x + (i - 1.5) * width, np.clip(values, -0.1, 1.0), width, color=colour,
               label=f"{kind}, {encoder} encoder")
    ax.set_xticks(x, [n.replace(".", "\n") for n in names], fontsize=8)
    ax.set_ylim(-0.1, 1.05)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("R² on held-out episodes")
    ax.set_title(f"probes of physical quantities ({result['world']})")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out)


def plot_surprise(result: dict[str, Any], out: str | Path) -> Path:
    """One panel per violation type: surprise over time of a possible clip and its impossible twin."""
    names = list(result["curves"])
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        clip = result["curves"][name][0]
        t = np.arange(len(clip["possible"]))
        ax.plot(t, clip["possible"], "o-", markersize=2, color="tab:blue", label="possible")
        ax.plot(t, clip["impossible"], "o-", markersize=2, color="tab:red", label="impossible twin")
        ax.axvline(clip["event_frame"], color="black", linestyle="--", linewidth=0.8, label="event frame")
        auroc = result["violations"][name]["auroc"]
        ax.set_title(f"{name} (AUROC {auroc:.2f})", fontsize=9)
        ax.set_xlabel("frame", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("surprise (z-score)")
    axes[0, 0].legend(fontsize=7)
    return _save(fig, out)


def plot_rollout(result: dict[str, Any], out: str | Path) -> Path:
    """Open-loop latent error against horizon, beside the copy-last baseline."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(result["horizon"], result["model_mse"], "o-", label="world model (open loop)")
    ax.plot(result["horizon"], result["copy_last_mse"], "s--", color="tab:gray", label="copy last embedding")
    ax.set_xlabel(f"steps ahead (1 step = {result['frameskip']} world steps)")
    ax.set_ylabel("latent mean squared error")
    ax.set_yscale("log")
    ax.set_title("open-loop prediction")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, out)
