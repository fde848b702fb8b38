"""The episode contrast (InfoNCE over pairs of frames of one episode)."""

from __future__ import annotations

import math

import pytest
import torch

from openami.losses import episode_contrast


def test_matched_pairs_score_low_and_shuffled_pairs_high() -> None:
    a = torch.eye(8) * 3.0  # eight episodes with orthogonal codes
    matched = episode_contrast(a, a + 0.01 * torch.randn(8, 8, generator=torch.Generator().manual_seed(0)))
    shuffled = episode_contrast(a, a.roll(1, dims=0))
    # Cosine 1 against 0 at temperature 0.1: each row's loss is log(1 + 7 e^-10).
    assert matched.item() == pytest.approx(math.log1p(7 * math.exp(-10)), rel=0.05)
    assert shuffled.item() == pytest.approx(10 + math.log1p(7 * math.exp(-10)), rel=1e-3)


def test_indistinguishable_episodes_cost_log_of_their_number() -> None:
    same = torch.ones(6, 4)  # every frame alike: its partner is one of 6 equal candidates
    assert episode_contrast(same, same).item() == pytest.approx(math.log(6))


def test_scale_does_not_matter_and_shapes_are_checked() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert episode_contrast(a, b).item() == pytest.approx(episode_contrast(4 * a, b / 2).item(), rel=1e-5)
    with pytest.raises(ValueError, match="alike"):
        episode_contrast(a, b[:4])
