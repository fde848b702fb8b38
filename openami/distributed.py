"""Data-parallel training under torchrun: who this process is, and gathers that keep gradients.

`ami train` run by `torchrun --nproc_per_node=N -m openami train ...` finds the
torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK) and joins a process group: gloo on
the CPU, NCCL on CUDA. Every rank draws the same global batch and trains on its own
slice of it; the losses that use batch statistics (the projector's BatchNorm, SIGReg,
VICReg) see the whole global batch through `gather_rows`, so N ranks with B/N windows
each compute the loss and gradients of one process with B.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from openami.device import resolve_device


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    """True when this process created the process group and must destroy it."""

    @property
    def is_main(self) -> bool:
        """Only the main rank writes checkpoints, logs and the progress bar."""
        return self.rank == 0

    def slice(self, global_batch: int) -> slice:
        """This rank's rows of a global batch of `global_batch` rows."""
        if global_batch % self.world_size:
            raise ValueError(f"train.batch_size {global_batch} must be divisible by the number of "
                             f"processes ({self.world_size}): each trains on an equal slice of the batch")
        size = global_batch // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_name: str) -> Ranks:
    """Join (or create) the process group torchrun describes; a single process otherwise."""
    device = resolve_device(device_name)
    if dist.is_available() and dist.is_initialized():
        return _ranks(device, owns_group=False)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Ranks(device=device)
    if device.type == "cuda":
        # One GPU per process: torchrun's LOCAL_RANK picks it.
        device = resolve_device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _ranks(device, owns_group=True)


def _ranks(device: torch.device, owns_group: bool) -> Ranks:
    return Ranks(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device, owns_group=owns_group)


def teardown(ranks: Ranks) -> None:
    """Leave the process group this process created (call on every rank)."""
    if ranks.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: Tensor) -> Tensor:
    """Concatenate every rank's x (N, ...) in rank order, keeping gradients to each rank's part.

    The backward pass sums, on each rank, the gradients that every rank's loss sends to
    its rows; with DDP's gradient average that gives exactly the single-process gradient.
    Every rank must pass the same number of rows.
    """
    if world_size() == 1:
        return x
    return _GatherRows.apply(x)


class _GatherRows(torch.autograd.Function):
    """all_gather forward; backward all-reduces the whole gradient and keeps this rank's rows.

    torch's own autograd gathers are deprecated (torch.distributed.nn) or private
    (_functional_collectives). all_reduce runs on every backend, and these embeddings are small.
    A gloo rank can still abort at interpreter exit, whichever gather is used (seen in CI;
    see tests/unit/training/test_distributed.py).
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return local_rows(grad, ctx.rows)


def local_rows(x_global: Tensor, rows: int) -> Tensor:
    """This rank's `rows` rows of a tensor made by `gather_rows`."""
    if world_size() == 1:
        return x_global
    start = dist.get_rank() * rows
    return x_global[start:start + rows]


def mean_over_ranks(values: Tensor) -> Tensor:
    """The average of a detached tensor over ranks (for logging the global batch's losses)."""
    if world_size() == 1:
        return values
    values = values.detach().clone()
    dist.all_reduce(values)
    return values / world_size()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
