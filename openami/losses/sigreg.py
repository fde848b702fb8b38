"""SIGReg (LeJEPA, Balestriero & LeCun 2025): sketched isotropic Gaussian regularization.

By Cramér–Wold, a distribution is the standard Gaussian N(0, I) iff every 1-D
projection of it is N(0, 1). SIGReg checks a random sketch of directions: each
projection is compared with N(0, 1) by the Epps–Pulley statistic, a weighted L2
distance between the empirical characteristic function of the samples and the
Gaussian one, exp(-t^2 / 2):

    EP = N * integral |phi_N(t) - exp(-t^2/2)|^2 w(t) dt,   w(t) = exp(-t^2/2)

Scaling by N makes the value under the null (samples truly Gaussian) O(1) and
independent of the batch size, while any fixed departure from N(0, 1) grows with N.
The integrand is even in t (phi_N(-t) is the conjugate of phi_N(t)), so we integrate
over [0, t_max] and double. Characteristic functions are bounded, so the loss stays
well-behaved for outliers, unlike moment matching.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sigreg(
    z: Tensor,
    num_slices: int,
    generator: torch.Generator | None = None,
    num_points: int = 17,
    t_max: float = 3.0,
) -> Tensor:
    """Mean over random slices of the N-scaled Epps–Pulley statistic; z: (N, D) -> scalar.

    The directions are drawn from `generator` (which must live on z's device; None uses
    the global RNG). Pass the same seed on every rank so that ranks share the slices.
    The statistic uses only the batch it is given: to regularize a global batch under
    DDP, all-gather z (with gradients) before calling.
    """
    if z.dim() != 2:
        raise ValueError(f"sigreg expects z of shape (N, D), got {tuple(z.shape)}")
    if num_slices < 1 or num_points < 2:
        raise ValueError(f"sigreg needs num_slices >= 1 and num_points >= 2, got {num_slices}, {num_points}")
    n, d = z.shape
    # Half precision loses the small differences between characteristic functions.
    dtype = torch.promote_types(z.dtype, torch.float32)
    directions = torch.randn(d, num_slices, generator=generator, device=z.device, dtype=dtype)
    directions = directions / directions.norm(dim=0, keepdim=True)  # (D, M) unit columns
    proj = z.to(dtype) @ directions  # (N, M)

    t = torch.linspace(0.0, t_max, num_points, device=z.device, dtype=dtype)  # (P,)
    gauss_cf = torch.exp(-0.5 * t**2)  # (P,) characteristic function of N(0, 1), also the weight
    xt = proj.unsqueeze(-1) * t  # (N, M, P)
    # Real and imaginary parts of the empirical characteristic function, without complex dtypes
    # so that every backend and autograd path works.
    ecf_re = torch.cos(xt).mean(dim=0)  # (M, P)
    ecf_im = torch.sin(xt).mean(dim=0)  # (M, P)
    err = ((ecf_re - gauss_cf) ** 2 + ecf_im**2) * gauss_cf  # (M, P)
    stat = 2.0 * torch.trapezoid(err, t, dim=-1) * n  # (M,) doubled: integrand is even in t
    return stat.mean().to(z.dtype)
