"""Time-contrastive loss: two frames of one episode must recognise each other in a batch of episodes."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def episode_contrast(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """InfoNCE over pairs of frames: a[i] and b[i] (N, D) come from one episode, and a[i] must pick b[i]
    out of all of b by cosine similarity (time-contrastive learning, as in Sermanet et al. 2018's TCN).

    What lets a frame find its partner is what its episode keeps constant, such as each body's shape;
    episodes that share it are not told apart, which caps the loss above zero.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must be (N, D) and alike, got {tuple(a.shape)} and {tuple(b.shape)}")
    logits = F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))
