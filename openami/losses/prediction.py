"""The JEPA prediction loss: how far predicted latents are from target latents."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def prediction_loss(z_pred: Tensor, z_target: Tensor) -> Tensor:
    """Mean squared error over every element; z_pred, z_target: (B, H, D) -> scalar."""
    if z_pred.shape != z_target.shape:
        raise ValueError(f"prediction_loss: z_pred {tuple(z_pred.shape)} != z_target {tuple(z_target.shape)}")
    return F.mse_loss(z_pred, z_target)
