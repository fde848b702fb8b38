"""Losses as pure functions: the prediction loss, anti-collapse regularizers and the episode contrast.

`REGULARIZERS` maps a short name to a callable `(z: (N, D), generator) -> scalar`
with the defaults filled in, so that a trainer picks one by name from its config.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from openami.losses.contrast import episode_contrast
from openami.losses.prediction import prediction_loss
from openami.losses.sigreg import sigreg
from openami.losses.vicreg import vicreg
from openami.registry import Registry

Regularizer = Callable[[Tensor, torch.Generator | None], Tensor]

REGULARIZERS: Registry[Regularizer] = Registry("regularizer")


@REGULARIZERS.register("sigreg")
def sigreg_default(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """SIGReg with 256 slices; z: (N, D)."""
    return sigreg(z, num_slices=256, generator=generator)


@REGULARIZERS.register("vicreg")
def vicreg_default(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """VICReg variance + covariance with the paper's weights; z: (N, D). Needs no randomness."""
    del generator
    return vicreg(z)


__all__ = ["REGULARIZERS", "Regularizer", "episode_contrast", "prediction_loss", "sigreg", "vicreg"]
