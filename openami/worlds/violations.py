"""Paired possible / impossible clips from the physics world, for violation-of-expectation tests.

Both twins start from the same reset and get the same pushes. The possible twin is plain
physics (collisions, bounces and coming to rest included). The impossible twin replays it
exactly up to some frame k; then one intervention breaks a law (a body jumps, vanishes,
appears, passes through a solid, changes velocity without a cause, or changes colour or
shape) and both twins run on with the same actions.

The intervention acts on the state of frame k, after that frame is drawn, so the step after
it produces the first differing frame, ``event_frame = k + 1`` (a pass-through may take
one more step to show). Physics is deterministic, so the replay is a second run from the
same seed rather than a copy of the simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openami.worlds.physics import DT, NUM_BODIES, NUM_FIELDS, SHAPE_SYMMETRY, PhysicsEnv, bounding_radius

VIOLATIONS = ("teleport", "vanish", "appear", "pass_through", "velocity_jump", "colour_change", "shape_change")
"""Names of the impossible events :func:`make_paired_clip` can stage."""
EXTRA_COLOURS = ((235, 200, 30), (200, 50, 200), (245, 130, 20), (30, 200, 210))
"""Colours no body has at reset (yellow, magenta, orange, cyan): what colour_change turns a body into."""
TELEPORT_MIN_DISTANCE = 0.3
"""A teleport moves a body at least this far (arena units)..."""
TELEPORT_SPEED_FACTOR = 8.0
"""...and at least this many times the distance its speed covers in one step."""
VELOCITY_JUMP_MIN = 1.0
"""Smallest velocity change of a velocity jump between two frames (arena/s): over three full
pushes, beyond any legal cause but a collision. The jump is drawn 0.5 larger, to cover what a
push, gravity and drag may take off it in the same step."""
PASS_THROUGH_MIN_DEPTH = 0.03
"""A pass-through counts only if the body sinks this deep (about 2 px at 64x64) into the solid."""
FREE_FLIGHT_STEPS = 2
"""Steps either side of a velocity jump, colour or shape change with no contact for the body."""
PUSH_MOMENTUM = 0.8
"""Pushes are an AR(1) sequence: each keeps this fraction of the last..."""
PUSH_NOISE = 0.25
"""...plus Gaussian noise of this scale, so they drift smoothly and stay small."""
MAX_ATTEMPTS = 32
"""Worlds tried (the seed's own, then derived ones) before giving up on staging a violation."""
_CANDIDATES_PER_ATTEMPT = 6  # event times / bodies tried in one world before moving on
_TRIES = 200  # samples when looking for a free place or a clear velocity


@dataclass
class PairedClip:
    """A possible clip and its impossible twin; both share the actions and all frames before ``event_frame``."""

    violation: str
    """One of VIOLATIONS."""
    body: int
    """Index of the body the violation acts on."""
    event_frame: int
    """First frame index where the two clips' images differ."""
    actions: np.ndarray
    """float32 (L, 2); actions[t] is applied after frame t (the last row is zero)."""
    possible: np.ndarray
    """uint8 (L, H, W, 3)."""
    impossible: np.ndarray
    """uint8 (L, H, W, 3)."""
    possible_state: np.ndarray
    """float32 (L, NUM_FIELDS * num_bodies), laid out as PhysicsEnv's info["state"] (shapes included)."""
    impossible_state: np.ndarray
    """float32 (L, NUM_FIELDS * num_bodies); after a shape_change the body's ``box`` field is flipped."""
    seed: int
    """The seed the clip was made from (make_paired_clip's argument)."""
    possible_visible: np.ndarray
    """bool (L, num_bodies): which bodies are in the possible clip's world at each frame."""
    impossible_visible: np.ndarray
    """bool (L, num_bodies)."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the intervention did: reset_seed always; teleport 'from'/'to' positions; velocity_jump
    'from'/'to' velocities; appear 'to'; pass_through 'other' (body index or 'ledge') and 'depth';
    colour_change 'colour'; shape_change 'kind' (the new shape: the opposite of the body's shape at reset)."""


@dataclass
class _Run:
    """One twin's record: frames, states, visibility per frame, and contacts per step."""

    frames: np.ndarray
    states: np.ndarray
    visible: np.ndarray
    contacts: list[frozenset]  # contacts[t]: pairs that touched during the step from frame t to t + 1
    hits: list[frozenset]  # hits[t]: the pairs among contacts[t] that started touching in that step
    probes: list[float]  # the probe after each step from the fork on


Apply = Callable[[PhysicsEnv], dict[str, Any] | None]  # an intervention; None if it cannot be staged here


def _push_sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    """Small, smoothly drifting pushes: float32 (length, 2), last row zero."""
    actions = np.zeros((length, 2), np.float32)
    push = np.zeros(2)
    for t in range(length - 1):
        push = PUSH_MOMENTUM * push + PUSH_NOISE * rng.standard_normal(2)
        actions[t] = np.clip(push, -1.0, 1.0)
    return actions


def _run(
    env: PhysicsEnv,
    reset_seed: int,
    actions: np.ndarray,
    hidden: int | None,
    fork: tuple[int, Apply, _Run] | None = None,
    probe: Callable[[PhysicsEnv], float] | None = None,
) -> tuple[_Run, dict[str, Any]] | None:
    """Simulate a clip. With ``fork = (k, apply, possible)``, replay ``possible`` up to frame k
    without drawing, apply the intervention, and record from there on; None if it cannot be applied."""
    length = len(actions)
    env.reset(seed=reset_seed)
    if hidden is not None:
        env.set_visible(hidden, False)
    start, details = 0, {}
    if fork is not None:
        start, apply, possible = fork
        for t in range(start):
            env.advance(actions[t])
        if not np.array_equal(env.state, possible.states[start]):
            raise RuntimeError("the physics replay diverged from the first run; pymunk is not deterministic here")
        applied = apply(env)
        if applied is None:
            return None
        details = applied
    frames = np.empty((length, env.size, env.size, 3), np.uint8)
    states = np.empty((length, NUM_FIELDS * NUM_BODIES), np.float32)
    visible = np.empty((length, NUM_BODIES), bool)
    if fork is None:
        frames[0], states[0], visible[0] = env.render(), env.state, env.visible
        contacts: list[frozenset] = []
        hits: list[frozenset] = []
    else:  # frames up to the intervention are the possible twin's, byte for byte
        possible = fork[2]
        frames[: start + 1], states[: start + 1] = possible.frames[: start + 1], possible.states[: start + 1]
        visible[: start + 1] = possible.visible[: start + 1]
        contacts, hits = possible.contacts[:start], possible.hits[:start]
    probes: list[float] = []
    for t in range(start, length - 1):
        env.advance(actions[t])
        contacts.append(env.contacts)
        hits.append(env.hits)
        frames[t + 1], states[t + 1], visible[t + 1] = env.render(), env.state, env.visible
        if probe is not None:
            probes.append(probe(env))
    return _Run(frames, states, visible, contacts, hits, probes), details


def _touches(run: _Run, body: int, steps: range) -> bool:
    return any(pair[0] == body for t in steps if 0 <= t < len(run.contacts) for pair in run.contacts[t])


def _free_position(
    env: PhysicsEnv,
    rng: np.random.Generator,
    body: int,
    clearance: float,
    away_from: Any = None,
    min_distance: float = 0.0,
) -> np.ndarray | None:
    """A random place where the body would have ``clearance`` around it, ``min_distance`` from ``away_from``."""
    radius = bounding_radius(env.kinds[body]) + clearance
    for _ in range(_TRIES):
        p = rng.uniform(radius, 1.0 - radius, 2)
        far = away_from is None or math.dist(p, away_from) >= min_distance
        if far and env.is_free(p, radius, exclude=body):
            return p
    return None


# ---- interventions: (env at frame k, rng, body) -> details, or None if impossible here ----


def _teleport(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any] | None:
    x, y, vx, vy = env.state[NUM_FIELDS * body : NUM_FIELDS * body + 4]
    step = math.hypot(vx, vy) * DT
    target = _free_position(
        env, rng, body, step + 0.02, (x, y), max(TELEPORT_MIN_DISTANCE, TELEPORT_SPEED_FACTOR * step)
    )
    if target is None:
        return None
    env.set_body_state(body, position=target)  # the velocity is kept
    return {"from": np.array([x, y], np.float32), "to": target.astype(np.float32)}


def _vanish(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any]:
    env.set_visible(body, False)
    return {}


def _appear(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any] | None:
    target = _free_position(env, rng, body, 0.05)
    if target is None:
        return None
    heading, speed = rng.uniform(-math.pi, math.pi), rng.uniform(0.0, 0.5)
    velocity = (speed * math.cos(heading), speed * math.sin(heading))
    env.set_body_state(body, position=target, velocity=velocity, angle=rng.uniform(-math.pi, math.pi))
    env.set_visible(body, True)
    return {"to": target.astype(np.float32)}


def _velocity_jump(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any] | None:
    if env.clearance(body) <= 0:
        return None
    old = env.state[NUM_FIELDS * body + 2 : NUM_FIELDS * body + 4].astype(np.float64)
    for _ in range(_TRIES):
        heading, speed = rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 2.0)
        new = np.array([speed * math.cos(heading), speed * math.sin(heading)])
        if np.linalg.norm(new - old) >= VELOCITY_JUMP_MIN + 0.5 and env.path_clear(body, new, 2 * DT, margin=0.02):
            env.set_body_state(body, velocity=new)
            return {"from": old.astype(np.float32), "to": new.astype(np.float32)}
    return None


def _colour_change(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any]:
    colour = EXTRA_COLOURS[int(rng.integers(len(EXTRA_COLOURS)))]
    env.set_colour(body, colour)
    return {"colour": colour}


def _shape_change(env: PhysicsEnv, rng: np.random.Generator, body: int) -> dict[str, Any]:
    kind = next(k for k in SHAPE_SYMMETRY if k != env.kinds[body])  # ball -> box or box -> ball
    env.set_kind(body, kind)
    return {"kind": kind}


_INTERVENTIONS: dict[str, Callable[[PhysicsEnv, np.random.Generator, int], dict[str, Any] | None]] = {
    "teleport": _teleport,
    "vanish": _vanish,
    "appear": _appear,
    "velocity_jump": _velocity_jump,
    "colour_change": _colour_change,
    "shape_change": _shape_change,
}


def _stage(
    violation: str, rng: np.random.Generator, body: int, other: Any
) -> tuple[Apply, Callable[[PhysicsEnv], float] | None]:
    """The intervention for one candidate, and what to watch after it (depth into the solid, or clearance)."""
    if violation == "pass_through":

        def ghost(env: PhysicsEnv) -> dict[str, Any]:
            env.ignore_collisions(body, other)
            return {"other": other}

        return ghost, lambda env: env.penetration(body, other)
    probe = (lambda env: env.clearance(body)) if violation == "velocity_jump" else None
    return (lambda env: _INTERVENTIONS[violation](env, rng, body)), probe


def _candidates(
    violation: str, possible: _Run, rng: np.random.Generator, event_range: tuple[int, int], hidden: int | None
) -> Iterator[tuple[int, int, Any]]:
    """(body, k, other) to try, k being the last frame before the event; ``other`` only for pass_through."""
    lo, hi = event_range
    if violation == "pass_through":  # the body hits the ledge or another body during step k
        hits = sorted(
            {(i, other, k) for k in range(lo - 1, hi - 1) for i, other in possible.hits[k] if other != "wall"}, key=str
        )
        for index in rng.permutation(len(hits)):
            i, other, k = hits[index]
            if possible.visible[k, i] and (other == "ledge" or possible.visible[k, other]):
                yield i, k, other
        return
    in_flight = violation in ("velocity_jump", "colour_change", "shape_change")
    for _ in range(_CANDIDATES_PER_ATTEMPT * 4):
        body = hidden if hidden is not None else int(rng.integers(NUM_BODIES))
        k = int(rng.integers(lo, hi)) - 1
        if hidden is None and not possible.visible[k, body]:
            continue
        if in_flight and _touches(possible, body, range(k - FREE_FLIGHT_STEPS, k + FREE_FLIGHT_STEPS + 1)):
            continue
        yield body, k, None


def _attempt(
    violation: str, seed: int, attempt: int, length: int, size: int, event_range: tuple[int, int]
) -> PairedClip | None:
    # The world and the pushes depend on (seed, attempt) only, so every violation of one seed
    # shares its possible clip (except appear, which hides a body from the start).
    reset_seed = seed if attempt == 0 else int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0])
    actions = _push_sequence(np.random.default_rng([seed, attempt]), length)
    rng = np.random.default_rng([seed, attempt, VIOLATIONS.index(violation)])
    hidden = int(rng.integers(NUM_BODIES)) if violation == "appear" else None
    env = PhysicsEnv(render_mode="rgb_array", size=size)
    possible, _ = _run(env, reset_seed, actions, hidden)
    lo, hi = event_range
    tried = 0
    for body, k, other in _candidates(violation, possible, rng, event_range, hidden):
        if tried == _CANDIDATES_PER_ATTEMPT:
            break
        tried += 1
        apply, probe = _stage(violation, rng, body, other)
        result = _run(env, reset_seed, actions, hidden, fork=(k, apply, possible), probe=probe)
        if result is None:
            continue
        impossible, details = result
        differs = np.flatnonzero(np.any(possible.frames != impossible.frames, axis=(1, 2, 3)))
        if len(differs) == 0 or not lo <= differs[0] < hi:
            continue
        if violation == "pass_through":
            depth = max(impossible.probes[differs[0] - k - 1 :], default=0.0)
            if depth < PASS_THROUGH_MIN_DEPTH:
                continue
            details["depth"] = float(depth)
        # A contact in the event's step would blur the violation with a legal cause (a body
        # teleported next to another one, say), so the intervened body must fly free then.
        if violation not in ("pass_through", "vanish") and _touches(impossible, body, range(k, k + 1)):
            continue
        if violation == "velocity_jump":
            velocity = impossible.states[k : k + 2, NUM_FIELDS * body + 2 : NUM_FIELDS * body + 4]
            jump = np.linalg.norm(np.diff(velocity, axis=0))
            if jump < VELOCITY_JUMP_MIN or _touches(impossible, body, range(k + 1, k + 2)) or impossible.probes[0] <= 0:
                continue
        return PairedClip(
            violation=violation,
            body=body,
            event_frame=int(differs[0]),
            actions=actions,
            possible=possible.frames,
            impossible=impossible.frames,
            possible_state=possible.states,
            impossible_state=impossible.states,
            seed=seed,
            possible_visible=possible.visible,
            impossible_visible=impossible.visible,
            details={"reset_seed": reset_seed, **details},
        )
    return None


def make_paired_clip(
    violation: str, seed: int, length: int = 32, size: int = 64, event_range: tuple[int, int] = (8, 24)
) -> PairedClip:
    """A possible clip and its impossible twin, with the event in ``range(*event_range)``.

    Deterministic given (violation, seed) and the sizes. When the seed's world offers no
    place for the violation (e.g. no hit to pass through), worlds derived from the seed are
    tried in a fixed order; ``details["reset_seed"]`` names the one used.
    """
    if violation not in VIOLATIONS:
        raise ValueError(f"unknown violation {violation!r}; valid violations are {', '.join(VIOLATIONS)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    lo, hi = event_range
    if not 1 <= lo < hi <= length:
        raise ValueError(f"event_range must satisfy 1 <= start < stop <= length ({length}), got {event_range}")
    for attempt in range(MAX_ATTEMPTS):
        clip = _attempt(violation, int(seed), attempt, length, size, (lo, hi))
        if clip is not None:
            return clip
    raise RuntimeError(
        f"could not stage {violation!r} for seed {seed} in {MAX_ATTEMPTS} worlds; widen event_range "
        f"(now {event_range}) or lengthen the clip (now {length} frames)"
    )


def make_paired_clips(violation: str, count: int, seed: int = 0, **kwargs: Any) -> list[PairedClip]:
    """``count`` clips from seeds seed, seed + 1, ...; ``kwargs`` go to :func:`make_paired_clip`."""
    return [make_paired_clip(violation, seed + i, **kwargs) for i in range(count)]
