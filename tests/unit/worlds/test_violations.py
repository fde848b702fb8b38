"""Paired possible / impossible clips: shared past, a difference at the event, and the right violation."""

from __future__ import annotations

import numpy as np
import pytest

from openami.worlds.physics import BODY_COLOURS, DT, MAX_SPEED, NUM_BODIES, NUM_FIELDS, PhysicsEnv, kinds_of
from openami.worlds.violations import (
    EXTRA_COLOURS,
    VIOLATIONS,
    PairedClip,
    make_paired_clip,
    make_paired_clips,
)

SEEDS = (0, 1, 2)
LENGTH, SIZE, EVENT_RANGE = 24, 64, (6, 18)


@pytest.fixture(scope="module")
def clips() -> dict[str, list[PairedClip]]:
    return {
        v: [make_paired_clip(v, s, length=LENGTH, size=SIZE, event_range=EVENT_RANGE) for s in SEEDS]
        for v in VIOLATIONS
    }


@pytest.fixture(scope="module")
def scratch() -> PhysicsEnv:
    """An env to re-pose from recorded states, for geometric checks and re-rendering."""
    return PhysicsEnv(render_mode="rgb_array", size=SIZE)


def _pose(env: PhysicsEnv, state: np.ndarray, visible: np.ndarray) -> PhysicsEnv:
    env.reset(options={"state": state, "visible": visible})
    return env


def _count(frames: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels of exactly ``colour`` per frame (a body's interior; edges are blended)."""
    return np.all(frames == np.asarray(colour, np.uint8), axis=-1).sum(axis=(-2, -1))


def _xy(states: np.ndarray, body: int) -> np.ndarray:
    return states[..., NUM_FIELDS * body : NUM_FIELDS * body + 2]


def _v(states: np.ndarray, body: int) -> np.ndarray:
    return states[..., NUM_FIELDS * body + 2 : NUM_FIELDS * body + 4]


def test_unknown_violation_and_bad_ranges() -> None:
    with pytest.raises(ValueError, match="teleport, vanish, appear, pass_through, velocity_jump"):
        make_paired_clip("levitate", 0)
    with pytest.raises(ValueError, match="event_range"):
        make_paired_clip("vanish", 0, length=16, event_range=(8, 24))
    with pytest.raises(ValueError, match="seed"):
        make_paired_clip("vanish", -1)


@pytest.mark.parametrize("violation", VIOLATIONS)
def test_twins_share_the_past_and_differ_at_the_event(clips, scratch, violation: str) -> None:
    for seed, clip in zip(SEEDS, clips[violation], strict=True):
        e = clip.event_frame
        assert clip.violation == violation and clip.seed == seed and 0 <= clip.body < NUM_BODIES
        assert EVENT_RANGE[0] <= e < EVENT_RANGE[1]
        assert clip.actions.shape == (LENGTH, 2) and clip.actions.dtype == np.float32
        assert np.all(clip.actions[-1] == 0) and np.abs(clip.actions).max() <= 1
        for frames in (clip.possible, clip.impossible):
            assert frames.shape == (LENGTH, SIZE, SIZE, 3) and frames.dtype == np.uint8
        for states in (clip.possible_state, clip.impossible_state):
            assert states.shape == (LENGTH, NUM_FIELDS * NUM_BODIES) and states.dtype == np.float32
        assert clip.possible[:e].tobytes() == clip.impossible[:e].tobytes()
        assert not np.array_equal(clip.possible[e], clip.impossible[e])
        if violation != "pass_through":  # there the state may drift a frame before the pixels do
            np.testing.assert_array_equal(clip.possible_state[:e], clip.impossible_state[:e])
        # Images are a pure function of the state: the possible twin re-renders exactly.
        for t in (0, e, LENGTH - 1):
            image = scratch.render_state(clip.possible_state[t], clip.possible_visible[t])
            np.testing.assert_array_equal(image, clip.possible[t])


@pytest.mark.parametrize("violation", VIOLATIONS)
def test_deterministic(clips, violation: str) -> None:
    again = make_paired_clip(violation, SEEDS[0], length=LENGTH, size=SIZE, event_range=EVENT_RANGE)
    first = clips[violation][0]
    assert again.event_frame == first.event_frame and again.body == first.body
    np.testing.assert_array_equal(again.impossible, first.impossible)
    np.testing.assert_array_equal(again.possible_state, first.possible_state)


def test_violations_of_one_seed_share_the_possible_clip(clips) -> None:
    same = [c[0] for v, c in clips.items() if v != "appear" and c[0].details["reset_seed"] == SEEDS[0]]
    assert len(same) >= 4
    for clip in same[1:]:
        np.testing.assert_array_equal(clip.possible, same[0].possible)


def test_make_paired_clips_uses_consecutive_seeds() -> None:
    batch = make_paired_clips("colour_change", 2, seed=7, length=16, size=32, event_range=(4, 12))
    assert [c.seed for c in batch] == [7, 8] and batch[0].possible.shape == (16, 32, 32, 3)


def test_teleport(clips) -> None:
    for clip in clips["teleport"]:
        b, e = clip.body, clip.event_frame
        jump = np.linalg.norm(_xy(clip.impossible_state[e], b) - _xy(clip.impossible_state[e - 1], b))
        speed = np.linalg.norm(_v(clip.impossible_state[e - 1], b))
        assert jump >= 0.25 and jump > 5 * speed * DT
        assert np.linalg.norm(_v(clip.impossible_state[e], b) - _v(clip.impossible_state[e - 1], b)) < 0.6  # kept
        moved = np.linalg.norm(_xy(clip.possible_state[e], b) - _xy(clip.possible_state[e - 1], b))
        assert moved <= (MAX_SPEED + 0.2) * DT


def test_vanish(clips) -> None:
    for clip in clips["vanish"]:
        b, e = clip.body, clip.event_frame
        assert clip.possible_visible[:, b].all() and clip.impossible_visible[:e, b].all()
        assert not clip.impossible_visible[e:, b].any()
        assert np.all(_count(clip.impossible[:e], BODY_COLOURS[b]) > 0)
        assert np.all(_count(clip.impossible[e:], BODY_COLOURS[b]) == 0)
        assert _count(clip.possible[e], BODY_COLOURS[b]) > 0


def test_appear(clips) -> None:
    for clip in clips["appear"]:
        b, e = clip.body, clip.event_frame
        assert not clip.possible_visible[:, b].any() and not clip.impossible_visible[:e, b].any()
        assert clip.impossible_visible[e:, b].all()
        assert np.all(_count(clip.possible, BODY_COLOURS[b]) == 0)
        assert np.all(_count(clip.impossible[:e], BODY_COLOURS[b]) == 0)
        assert _count(clip.impossible[e], BODY_COLOURS[b]) > 0


def _depths(env: PhysicsEnv, states: np.ndarray, visible: np.ndarray, body: int, other: int | str) -> np.ndarray:
    """How deep ``body`` sinks into ``other`` at each frame."""
    return np.array([_pose(env, s, v).penetration(body, other) for s, v in zip(states, visible, strict=True)])


def test_pass_through(clips, scratch) -> None:
    for clip in clips["pass_through"]:
        b, e, other = clip.body, clip.event_frame, clip.details["other"]
        assert other == "ledge" or (other in range(NUM_BODIES) and other != b)
        # Real bodies never overlap; the ghost sinks visibly into the solid after the event.
        assert _depths(scratch, clip.possible_state, clip.possible_visible, b, other).max() < 0.015
        assert _depths(scratch, clip.impossible_state[e:], clip.impossible_visible[e:], b, other).max() > 0.025


def test_velocity_jump(clips, scratch) -> None:
    for clip in clips["velocity_jump"]:
        b, e = clip.body, clip.event_frame
        jump = np.linalg.norm(_v(clip.impossible_state[e], b) - _v(clip.impossible_state[e - 1], b))
        assert jump >= 1.0
        # No cause: the possible twin changes only by gravity and a push, and nothing touches the body.
        assert np.linalg.norm(_v(clip.possible_state[e], b) - _v(clip.possible_state[e - 1], b)) < 0.6
        for t in (e - 1, e):
            assert _pose(scratch, clip.impossible_state[t], clip.impossible_visible[t]).clearance(b) > 0


def test_colour_change(clips) -> None:
    for clip in clips["colour_change"]:
        b, e, colour = clip.body, clip.event_frame, clip.details["colour"]
        assert colour in EXTRA_COLOURS and colour not in BODY_COLOURS
        assert _count(clip.impossible[e], colour) > 0 and _count(clip.impossible[e], BODY_COLOURS[b]) == 0
        assert np.all(_count(clip.possible, colour) == 0) and np.all(_count(clip.impossible[:e], colour) == 0)


def test_shape_change(clips, scratch) -> None:
    for clip in clips["shape_change"]:
        b, e, kind = clip.body, clip.event_frame, clip.details["kind"]
        before = kinds_of(clip.possible_state[0])
        assert kind != before[b] and all(kinds_of(s) == before for s in clip.possible_state)
        box = NUM_FIELDS * b + NUM_FIELDS - 1
        assert np.all(clip.impossible_state[:e, box] == clip.possible_state[:e, box])
        assert np.all(clip.impossible_state[e:, box] == float(kind == "box"))  # the flag flipped and stays
        state = clip.impossible_state[e]
        assert kinds_of(state) == tuple(kind if i == b else k for i, k in enumerate(before))
        np.testing.assert_array_equal(scratch.render_state(state), clip.impossible[e])
        assert not np.array_equal(scratch.render_state(state, kinds=before), clip.impossible[e])
        np.testing.assert_array_equal(_xy(state, b), _xy(clip.possible_state[e], b))  # same place and motion


def test_shape_change_acts_on_balls_and_boxes() -> None:
    clips = make_paired_clips("shape_change", 8, seed=0, length=LENGTH, size=32, event_range=EVENT_RANGE)
    flips = {(kinds_of(c.possible_state[0])[c.body], c.details["kind"]) for c in clips}
    assert flips == {("ball", "box"), ("box", "ball")}
