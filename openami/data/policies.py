"""Reward-free exploration policies used to collect experience."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openami.config import Config, check
from openami.registry import Registry

POLICIES: Registry = Registry("policy")


@dataclass(frozen=True)
class PolicyConfig(Config):
    """Settings of an exploration policy."""

    name: str = "momentum"
    """Registered policy: 'momentum' (correlated random walk) or 'uniform' (i.i.d. actions)."""
    momentum: float = 0.9
    """Correlation of consecutive actions (momentum policy): 0 is white noise, near 1 straight runs."""
    scale: float = 1.0
    """Stationary standard deviation of each action component before clipping."""

    def __post_init__(self) -> None:
        check(0 <= self.momentum < 1, f"policy.momentum must be in [0, 1), got {self.momentum}")
        check(self.scale > 0, f"policy.scale must be positive, got {self.scale}")


@POLICIES.register("momentum")
class MomentumRandomWalk:
    """a_t = m a_(t-1) + sqrt(1 - m^2) * scale * noise, clipped to the action box.

    Long straight runs carry the agent across rooms and through doors far more often
    than white noise, whose displacement only grows with the square root of time.
    """

    def __init__(self, config: PolicyConfig, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
        self.config, self.low, self.high, self.rng = config, low, high, rng
        self.state = self._noise()

    def _noise(self) -> np.ndarray:
        return self.rng.normal(0.0, self.config.scale, size=self.low.shape)

    def __call__(self) -> np.ndarray:
        m = self.config.momentum
        self.state = m * self.state + np.sqrt(1 - m * m) * self._noise()
        return np.clip(self.state, self.low, self.high).astype(np.float32)


@POLICIES.register("uniform")
class UniformRandom:
    """Independent uniform actions over the action box."""

    def __init__(self, config: PolicyConfig, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
        self.low, self.high, self.rng = low, high, rng

    def __call__(self) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)
