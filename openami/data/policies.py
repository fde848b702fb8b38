"""Reward-free exploration policies used to collect experience.

A policy is built from (config, action low, action high, rng) and called with the world's last
``info`` (whose ``state`` a scripted policy may read) for each action.
"""

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
    """Registered policy: 'momentum' (correlated random walk), 'uniform' (i.i.d. actions), 'pusht'
    (scripted pushes of PushT's block, with noise) or 'contact' (the physics world's red body driven
    into the others and at the ledge)."""
    momentum: float = 0.9
    """Correlation of consecutive actions (momentum policy): 0 is white noise, near 1 straight runs."""
    scale: float = 1.0
    """Stationary standard deviation of each action component before clipping."""
    wander: float = 0.25
    """Share of the 'contact' policy's segments that wander as the momentum random walk instead of steering."""

    def __post_init__(self) -> None:
        check(0 <= self.momentum < 1, f"policy.momentum must be in [0, 1), got {self.momentum}")
        check(self.scale > 0, f"policy.scale must be positive, got {self.scale}")
        check(0 <= self.wander <= 1, f"policy.wander must be in [0, 1], got {self.wander}")


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

    def __call__(self, info: dict | None = None) -> np.ndarray:
        m = self.config.momentum
        self.state = m * self.state + np.sqrt(1 - m * m) * self._noise()
        return np.clip(self.state, self.low, self.high).astype(np.float32)


@POLICIES.register("uniform")
class UniformRandom:
    """Independent uniform actions over the action box."""

    def __init__(self, config: PolicyConfig, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
        self.low, self.high, self.rng = low, high, rng

    def __call__(self, info: dict | None = None) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


@POLICIES.register("pusht")
class PushTPushes:
    """PushT's data policy: random pushes of the block, so that most steps of an episode make contact.

    Random actions rarely reach the block. This policy repeats: pick a side of the block (a
    random direction), go to a stand-off point on that side, then push through the block's
    centroid shifted sideways by up to a bar's half-width (so pushes both move and turn it) for
    5-15 steps; when the block is far from the middle, half the pushes aim back towards it.
    Every action gets Gaussian noise (``scale`` x 0.3), and one segment in five is a momentum
    random walk instead, so the data also holds moves that miss the block.
    Reads ``info["state"]`` laid out as PushTEnv's.
    """

    STANDOFF = 110.0  # approach point's distance from the block's centroid: clear of the T at the default scale
    NOISE = 0.3
    CENTRE = np.array([256.0, 256.0])  # the table's middle

    def __init__(self, config: PolicyConfig, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
        from openami.worlds.pusht import MAX_STEP

        self.config, self.low, self.high, self.rng, self.max_step = config, low, high, rng, MAX_STEP
        self.wander = MomentumRandomWalk(PolicyConfig(momentum=config.momentum, scale=config.scale), low, high, rng)
        self.phase, self.steps_left, self.direction, self.offset = "wander", 0, np.zeros(2), np.zeros(2)

    def _new_segment(self, block: np.ndarray) -> None:
        if self.rng.random() < 0.2:
            self.phase, self.steps_left = "wander", int(self.rng.integers(5, 15))
            return
        angle = self.rng.uniform(0, 2 * np.pi)
        from_centre = block - self.CENTRE
        if np.linalg.norm(from_centre) > 120 and self.rng.random() < 0.5:
            # Push back towards the middle (within 60°), else the block's random walk ends at a wall.
            angle = np.arctan2(from_centre[1], from_centre[0]) + self.rng.uniform(-np.pi / 3, np.pi / 3)
        self.direction = np.array([np.cos(angle), np.sin(angle)])  # from the block towards the stand-off point
        self.offset = np.array([-self.direction[1], self.direction[0]]) * self.rng.uniform(-60, 60)
        self.phase, self.steps_left = "approach", 12

    def __call__(self, info: dict | None = None) -> np.ndarray:
        state = np.asarray((info or {}).get("state", ()), np.float64).ravel()
        if state.shape != (7,):
            raise ValueError("the 'pusht' policy reads info['state'] laid out as PushT's (7 numbers); "
                             "use it with openami/PushT-v0")
        pusher, block = state[:2], state[4:6]
        if self.steps_left <= 0:
            self._new_segment(block)
        self.steps_left -= 1
        if self.phase == "wander":
            return self.wander(info)
        if self.phase == "approach":
            target = block + self.offset + self.direction * self.STANDOFF
            if np.linalg.norm(target - pusher) < self.max_step or self.steps_left <= 0:
                self.phase, self.steps_left = "push", int(self.rng.integers(5, 16))
        else:  # push through the (shifted) centroid and beyond
            target = block + self.offset - self.direction * self.STANDOFF
        move = (target - pusher) / self.max_step
        move = move / max(1.0, float(np.abs(move).max()))  # full speed along the way, no overshoot
        noise = self.rng.normal(0.0, self.NOISE * self.config.scale, 2)
        return np.clip(move + noise, self.low, self.high).astype(np.float32)


@POLICIES.register("contact")
class ContactSeeking:
    """The physics world's contact-seeking policy: drive the red body into the others and at the ledge.

    Under a random walk the red body rarely meets anything and the other two soon lie still, so
    collisions and bounces, the events surprise tests are about, are rare in the data. This policy
    repeats segments of 8-20 steps: steer the red body at one of the other bodies, at a point just
    above the ledge (half as often), or wander as the momentum random walk (``wander`` of the
    segments; by default a quarter, leaving a half for the bodies and a quarter for the ledge).
    Steering asks for a velocity of 1.5 arena/s towards the target and pushes by the difference,
    with Gaussian noise (``scale`` x 0.3). Reads ``info["state"]`` laid out as PhysicsEnv's.
    """

    SPEED = 1.5
    NOISE = 0.3

    def __init__(self, config: PolicyConfig, low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
        from openami.worlds import physics

        self.physics, self.config, self.low, self.high, self.rng = physics, config, low, high, rng
        self.wander = MomentumRandomWalk(PolicyConfig(momentum=config.momentum, scale=config.scale), low, high, rng)
        self.target: int | np.ndarray | None = None  # a body's index, a point, or None to wander
        self.steps_left = 0

    def _new_segment(self) -> None:
        p = self.physics
        draw, steer = self.rng.random(), 1.0 - self.config.wander
        if draw < steer * 2 / 3:
            self.target = int(self.rng.integers(1, p.NUM_BODIES))
        elif draw < steer:
            self.target = np.array([self.rng.uniform(*p.LEDGE_X), p.LEDGE_Y + 0.15])
        else:
            self.target = None
        self.steps_left = int(self.rng.integers(8, 21))

    def __call__(self, info: dict | None = None) -> np.ndarray:
        p = self.physics
        state = np.asarray((info or {}).get("state", ()), np.float64).ravel()
        if state.shape != (p.NUM_FIELDS * p.NUM_BODIES,):
            raise ValueError(f"the 'contact' policy reads info['state'] laid out as the physics world's "
                             f"({p.NUM_FIELDS * p.NUM_BODIES} numbers); use it with openami/Physics-v0")
        if self.steps_left <= 0:
            self._new_segment()
        self.steps_left -= 1
        if self.target is None:
            return self.wander(info)
        rows = state.reshape(p.NUM_BODIES, p.NUM_FIELDS)
        goal = rows[self.target, :2] if isinstance(self.target, int) else self.target
        position, velocity = rows[0, :2], rows[0, 2:4]
        heading = (goal - position) / max(float(np.linalg.norm(goal - position)), 1e-6)
        push = (self.SPEED * heading - velocity) / p.PUSH_DV
        noise = self.rng.normal(0.0, self.NOISE * self.config.scale, 2)
        return np.clip(push + noise, self.low, self.high).astype(np.float32)
