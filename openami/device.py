"""Devices named in configs, checked before any tensor moves."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """torch.device(name), or a ValueError that says what is available instead."""
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r} ({err}); use e.g. 'cpu', 'cuda' or 'cuda:1'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                             "use --device cpu, or install a CUDA build of torch")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    return device
