"""Which training windows each step's batch holds: uniformly drawn, or partly by prediction error."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class WindowSampler:
    """Draws the global batch's window indices; every rank holds the same sampler and draws the same batch.

    With `hard_fraction` > 0, that share of the batch is drawn in proportion to each window's
    prediction error when it was last trained on (windows never drawn have none yet, so they come
    from the uniform rest of the batch). Hard windows are then seen again until the model predicts
    them, as in prioritized experience replay (Schaul et al., 2016, with exponent 1 and no
    importance weights: the point is to train more on rare events, not to keep the uniform objective).
    """

    def __init__(self, num_windows: int, batch_size: int, hard_fraction: float = 0.0, seed: int = 0) -> None:
        if num_windows < 1:
            raise ValueError("no training windows to draw from")
        self.num_windows, self.batch_size = num_windows, batch_size
        self.hard = round(batch_size * hard_fraction)
        self.generator = torch.Generator().manual_seed(seed)
        self.errors = torch.zeros(num_windows) if self.hard else None

    def draw(self) -> Tensor:
        """(batch_size,) window indices: the uniform part first, then the hard part."""
        uniform = torch.randint(self.num_windows, (self.batch_size - self.hard,), generator=self.generator)
        if self.errors is None:
            return uniform
        if self.errors.sum() > 0:
            hard = torch.multinomial(self.errors, self.hard, replacement=True, generator=self.generator)
        else:  # the first step: no error is known yet
            hard = torch.randint(self.num_windows, (self.hard,), generator=self.generator)
        return torch.cat([uniform, hard])

    def update(self, indices: Tensor, errors: Tensor) -> None:
        """Record the prediction error (B,) of the windows just trained on (B,)."""
        if self.errors is not None:
            self.errors[indices.cpu()] = errors.detach().float().cpu().clamp_min(0)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"sampler": self.generator.get_state()}
        if self.errors is not None:
            state["window_errors"] = self.errors.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["sampler"])
        if self.errors is None:
            return
        errors = state.get("window_errors")
        if errors is None or errors.shape != self.errors.shape:
            raise ValueError(f"the checkpoint holds no prediction errors for {self.num_windows} windows, but "
                             "train.hard_fraction > 0 needs them: it was written by another configuration or dataset")
        self.errors.copy_(errors)
