import numpy as np
import pytest

from openami.evaluation.planning import RandomPolicy, run_episode
from openami.evaluation.protocols import PROTOCOLS, Task
from openami.evaluation.stats import wilson_interval
from openami.worlds import make_world
from openami.worlds.tworoom import MAX_STEP


def test_wilson_interval_known_values():
    # Reference values from the closed form (Wilson 1927), z = 1.96.
    lo, hi = wilson_interval(98, 100)
    assert lo == pytest.approx(0.9300, abs=1e-3) and hi == pytest.approx(0.9945, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(1 - hi)


def test_offset25_goals_are_25_steps_later_and_deterministic():
    env = make_world("tworoom", size=32)
    protocol = PROTOCOLS.get("tworoom-offset25")
    tasks = protocol.tasks(env, 8)
    again = protocol.tasks(env, 8)
    for a, b in zip(tasks, again, strict=True):
        np.testing.assert_array_equal(a.goal, b.goal)
    for task in tasks:
        assert np.abs(task.goal - task.start).max() <= 25 * MAX_STEP + 1e-6
    assert len({tuple(t.start) for t in tasks}) == 8


def test_cross_tasks_put_start_and_goal_in_different_rooms():
    env = make_world("tworoom", size=32)
    world = env.unwrapped
    for task in PROTOCOLS.get("tworoom-cross").tasks(env, 10):
        assert world.room_of(task.start) != world.room_of(task.goal)


class StraightToGoal:
    """A scripted policy that knows the goal position: heads straight for it."""

    def __init__(self, env, goal):
        self.env, self.goal, self.plan_seconds = env, np.asarray(goal), []

    def set_goal(self, image):
        pass

    def act(self, obs):
        position = self.env.unwrapped._info()["state"]
        return np.clip((self.goal - position) / MAX_STEP, -1, 1).astype(np.float32)


def test_run_episode_succeeds_within_the_radius_and_fails_behind_the_wall():
    env = make_world("tworoom", size=32)
    near = Task(np.array([0.2, 0.2], np.float32), np.array([0.3, 0.3], np.float32))
    result = run_episode(env, StraightToGoal(env, near.goal), near, budget=50, radius=16 / 224)
    assert result["success"] and result["steps"] <= 4
    # Straight at a goal behind the wall (outside the door) gets stuck at the wall.
    far = Task(np.array([0.2, 0.1], np.float32), np.array([0.8, 0.1], np.float32))
    result = run_episode(env, StraightToGoal(env, far.goal), far, budget=100, radius=16 / 224)
    assert not result["success"] and result["min_distance"] > 0.2


def test_random_policy_stays_in_the_action_box():
    env = make_world("tworoom", size=32)
    policy = RandomPolicy(env, seed=3)
    actions = np.stack([policy.act(None) for _ in range(200)])
    assert actions.min() >= -1 and actions.max() <= 1 and actions.std() > 0.3


def test_compiled_rollouts_plan_what_eager_rollouts_plan(tiny_run):
    """eval.compile: the agent's rollouts through torch.compile give the eager rollouts' plans."""
    import torch

    from openami.agent import CompiledRollouts, HeldActions
    from openami.training import load_model

    model, run = load_model(tiny_run)
    eager = HeldActions(model, run.train.frameskip)
    compiled = CompiledRollouts(eager)
    g = torch.Generator().manual_seed(0)
    z_hist = torch.randn(32, 1, model.config.latent_dim, generator=g)
    actions = torch.rand(32, 3, run.world_action_dim, generator=g) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(compiled.rollout(z_hist, actions), eager.rollout(z_hist, actions),
                                   atol=1e-5, rtol=1e-5)
