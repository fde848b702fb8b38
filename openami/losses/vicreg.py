"""VICReg's variance and covariance terms (Bardes, Ponce & LeCun 2022) on one set of embeddings.

The invariance term of VICReg is the JEPA prediction loss here, so only the two
anti-collapse terms live in this function.
"""

from __future__ import annotations

import torch
from torch import Tensor


def vicreg(
    z: Tensor,
    std_target: float = 1.0,
    eps: float = 1e-4,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
) -> Tensor:
    """var_weight * variance hinge + cov_weight * covariance penalty; z: (N, D) -> scalar.

    variance: mean over dims of relu(std_target - sqrt(var + eps)), which keeps every
    dimension spread out; covariance: sum of squared off-diagonal covariances divided by D,
    which decorrelates dimensions. The default weights 25 and 1 are the paper's.
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"vicreg expects z of shape (N, D) with N >= 2, got {tuple(z.shape)}")
    n, d = z.shape
    z = z - z.mean(dim=0)  # (N, D)
    var = (z**2).sum(dim=0) / (n - 1)  # (D,)
    variance = torch.relu(std_target - torch.sqrt(var + eps)).mean()
    cov = (z.T @ z) / (n - 1)  # (D, D)
    off_diag = cov - torch.diag(torch.diagonal(cov))
    covariance = (off_diag**2).sum() / d
    return var_weight * variance + cov_weight * covariance
