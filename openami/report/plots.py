"""Training curves as PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from openami.training.metrics import read_metrics  # noqa: E402


def plot_training(run_dir: str | Path, out: str | Path) -> Path:
    """Loss terms and the collapse watch (embedding std, effective rank) against steps."""
    records = read_metrics(Path(run_dir))
    if not records:
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl to plot: train a model first")
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val_pred_loss" in r]
    steps = [r["step"] for r in train]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [r["pred_loss"] for r in train], label="train")
    if val:
        axes[0].plot([r["step"] for r in val], [r["val_pred_loss"] for r in val], "o-", label="validation")
        copying = [r for r in val if "val_copy_last_loss" in r]  # runs logged before it was added have none
        if copying:
            axes[0].plot([r["step"] for r in copying], [r["val_copy_last_loss"] for r in copying], "s--",
                         color="tab:gray", label="validation, copy last embedding")
    axes[0].set_yscale("log")
    axes[0].set_title("latent prediction loss")
    axes[0].legend()
    axes[1].plot(steps, [r["reg_loss"] for r in train], color="tab:purple")
    axes[1].set_yscale("log")
    axes[1].set_title("regulariser (SIGReg / VICReg)")
    axes[2].plot(steps, [r["effective_rank"] for r in train], label="effective rank")
    axes[2].set_title("collapse watch")
    twin = axes[2].twinx()
    twin.plot(steps, [r["embed_std"] for r in train], color="tab:orange", label="embedding std")
    axes[2].legend(loc="lower left")
    twin.legend(loc="lower right")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
