"""train.hard_fraction: part of each batch drawn by the model's own prediction error."""

import pytest
import torch
from conftest import TINY_MODEL, TINY_TRAIN, assert_resume_matches_straight

from openami.config import ConfigError
from openami.training import fit, load_model
from openami.training.checkpoint import last_checkpoint, load_train_state
from openami.training.config import TrainConfig
from openami.training.sampling import WindowSampler


def test_without_hard_windows_the_batches_are_the_uniform_stream_of_earlier_runs():
    sampler = WindowSampler(100, 16, hard_fraction=0.0, seed=5)
    reference = torch.Generator().manual_seed(5)
    for _ in range(3):
        torch.testing.assert_close(sampler.draw(), torch.randint(100, (16,), generator=reference))
    assert "window_errors" not in sampler.state_dict()


def test_the_hard_part_is_drawn_in_proportion_to_the_last_errors():
    sampler = WindowSampler(1000, 40, hard_fraction=0.5, seed=0)
    first = sampler.draw()  # no error known yet: every window may come
    assert first.shape == (40,) and 0 <= first.min() and first.max() < 1000
    sampler.update(torch.tensor([3, 7, 9]), torch.tensor([0.0, 3.0, 1.0]))
    hard = torch.cat([sampler.draw()[20:] for _ in range(200)])
    assert set(hard.tolist()) == {7, 9}, "only windows with a positive error are drawn as hard"
    share = (hard == 7).float().mean().item()
    assert share == pytest.approx(0.75, abs=0.03)
    sampler.update(torch.tensor([7]), torch.tensor([0.0]))  # once predicted, a window stops being hard
    assert set(sampler.draw()[20:].tolist()) == {9}


def test_a_resumed_sampler_draws_what_the_uninterrupted_one_would():
    a = WindowSampler(50, 8, hard_fraction=0.25, seed=1)
    a.update(torch.arange(50), torch.linspace(0, 1, 50))
    a.draw()
    b = WindowSampler(50, 8, hard_fraction=0.25, seed=99)
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        torch.testing.assert_close(a.draw(), b.draw())
    with pytest.raises(ValueError, match="hard_fraction"):
        b.load_state_dict(WindowSampler(50, 8, seed=1).state_dict())
    with pytest.raises(ValueError, match="50 windows"):
        b.load_state_dict(WindowSampler(60, 8, hard_fraction=0.25).state_dict())


def test_hard_fraction_must_leave_a_uniform_part():
    for value in (1.0, -0.1):
        with pytest.raises(ConfigError, match="hard_fraction"):
            TrainConfig(hard_fraction=value)


def test_a_run_with_hard_windows_records_their_errors_and_resumes_exactly(tiny_data, tmp_path):
    train = TINY_TRAIN.replace(steps=4, checkpoint_every=2, hard_fraction=0.5)
    assert_resume_matches_straight(tiny_data, tmp_path, TINY_MODEL, train)
    a, _ = load_model(tmp_path / "straight")
    errors = load_train_state(last_checkpoint(tmp_path / "straight"))["window_errors"]
    seen = int((errors > 0).sum())
    assert 0 < seen <= 4 * train.batch_size
    uniform = fit(tiny_data, tmp_path / "uniform", TINY_MODEL, train.replace(hard_fraction=0.0), progress=False)
    c, _ = load_model(uniform.run_dir)
    assert any(not torch.allclose(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))
