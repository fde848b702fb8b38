"""Collapse watch: statistics of a batch of embeddings, and the metrics log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


@torch.no_grad()
def embedding_stats(z: Tensor) -> dict[str, float]:
    """z (N, D) -> mean per-dimension std and effective rank (exp of singular-value entropy).

    A collapsing encoder shows a std falling towards 0 and an effective rank towards 1.
    """
    z = z.float()
    centered = z - z.mean(dim=0)
    singular = torch.linalg.svdvals(centered)
    p = singular / singular.sum().clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"embed_std": z.std(dim=0).mean().item(), "effective_rank": entropy.exp().item()}


class MetricsLog:
    """Appends one JSON record per line to metrics.jsonl and mirrors scalars to TensorBoard."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"))

    def write(self, step: int, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trim_metrics(run_dir: Path, last_step: int) -> None:
    """Drop records logged after the checkpoint a run resumes from, so steps stay unique."""
    from openami.atomic import atomic_write_text

    path = Path(run_dir) / "metrics.jsonl"
    if path.is_file():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= last_step]
        atomic_write_text(path, "".join(line + "\n" for line in kept))
