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


def runs_bf16_fast(device: torch.device) -> bool:
    """Whether `device` has bfloat16 arithmetic units: a CUDA GPU that supports bf16, or a CPU with
    AVX512-BF16 or AMX-BF16. Elsewhere bf16 is emulated, several times slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' becomes 'bf16' where the device runs it fast (see `runs_bf16_fast`), else 'fp32'."""
    if precision != "auto":
        return precision
    return "bf16" if runs_bf16_fast(device) else "fp32"
