"""Run a planning protocol: episodes of the agent (and a random baseline), scored."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

import numpy as np
from tqdm.auto import tqdm

from openami.agent import Agent
from openami.config import Config, check
from openami.evaluation.protocols import PROTOCOLS, Protocol, Task
from openami.evaluation.stats import wilson_interval
from openami.models import WorldModel
from openami.planning.base import PlannerConfig
from openami.training.config import RunConfig
from openami.worlds import make_world

if TYPE_CHECKING:
    from openami.memory.graph import MemoryGraph
    from openami.reasoning import ReasonConfig


@dataclass(frozen=True)
class EvalConfig(Config):
    """How the agent plans during an evaluation."""

    planner: str = "cem"
    """Registered planner: 'cem' or 'mppi'."""
    objective: str = "sum"
    """Registered objective: 'sum' (latent distance summed along the horizon) or 'terminal'."""
    search: PlannerConfig = field(default_factory=lambda: PlannerConfig(
        horizon=10, num_samples=200, iterations=3, action_dim=2))
    """Sampling settings of the planner; action_dim and bounds are set from the model and world."""
    hold_actions: bool = True
    """Plan one world action per model step, held for the frameskip (else all frameskip actions)."""
    device: str = "cpu"
    """Torch device of the model during planning."""
    compile: bool = False
    """Compile the planner's rollouts with torch.compile: about 2x faster plan calls on a CPU, after
    a compilation of 30-70 s on the first call (needs a C++ compiler); worth it for long evaluations."""

    def __post_init__(self) -> None:
        check(bool(self.planner) and bool(self.objective), "eval.planner and eval.objective must be named")


class Policy(TypingProtocol):
    plan_seconds: list[float]

    def set_goal(self, image: np.ndarray) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


class RandomPolicy:
    """The baseline: uniform random actions from the world's action box."""

    def __init__(self, env, seed: int) -> None:
        self.space = env.action_space
        self.rng = np.random.default_rng(seed)
        self.plan_seconds: list[float] = []

    def set_goal(self, image: np.ndarray) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(np.float32)


def make_agent(model: WorldModel, run: RunConfig, config: EvalConfig, env, agent_class: type[Agent] = Agent,
               **extra: Any) -> Agent:
    """The MPC agent for ``env`` with the eval settings; ``extra`` goes to ``agent_class`` (e.g. a memory graph)."""
    low, high = float(np.min(env.action_space.low)), float(np.max(env.action_space.high))
    action_dim = run.world_action_dim if config.hold_actions else run.model.action_dim
    search = config.search.replace(action_dim=action_dim, action_low=low, action_high=high)
    return agent_class(model, config.planner, search, config.objective, run.train.frameskip,
                       run.world_action_dim, config.device, hold_actions=config.hold_actions,
                       compile_rollouts=config.compile, **extra)


def within_radius(radius: float) -> Callable[[np.ndarray, np.ndarray], tuple[bool, float]]:
    """The point worlds' success test: the state's first coordinates within ``radius`` of the goal."""
    def judge(state: np.ndarray, goal: np.ndarray) -> tuple[bool, float]:
        distance = float(np.linalg.norm(np.asarray(state)[: goal.size] - goal))
        return distance <= radius, distance
    return judge


def run_episode(env, policy: Policy, task: Task, budget: int, radius: float,
                record: bool = False,
                judge: Callable[[np.ndarray, np.ndarray], tuple[bool, float]] | None = None) -> dict[str, Any]:
    """One episode from task.start toward the image of task.goal; success at any step.

    ``judge(state, goal) -> (success, distance)`` says what reaching the goal means; by default
    the position within ``radius``.
    """
    judge = judge or within_radius(radius)
    obs, info = env.reset(seed=0, options={"state": task.start})
    policy.set_goal(env.unwrapped.render_state(task.goal))
    goal = np.asarray(task.goal)
    frames = [obs] if record else []
    trajectory = [np.asarray(info["state"]).tolist()] if record else []
    best, success_step = float("inf"), None
    solved_at_start = judge(np.asarray(info["state"]), goal)[0]
    for t in range(budget):
        obs, _, _, _, info = env.step(policy.act(obs))
        if record:
            frames.append(obs)
            trajectory.append(np.asarray(info["state"]).tolist())
        success, distance = judge(np.asarray(info["state"]), goal)
        best = min(best, distance)
        if success:
            success_step = t + 1
            break
    result = {"success": success_step is not None, "steps": success_step or budget,
              "solved_at_start": bool(solved_at_start),
              "min_distance": best, "final_distance": distance,
              "start": np.asarray(task.start).tolist(), "goal": goal.tolist(),
              "plan_calls": len(policy.plan_seconds),
              "median_plan_s": statistics.median(policy.plan_seconds) if policy.plan_seconds else None}
    if record:
        result["frames"], result["trajectory"] = frames, trajectory
    return result


def summarize(protocol: Protocol, records: list[dict[str, Any]]) -> dict[str, Any]:
    wins = sum(r["success"] for r in records)
    low, high = wilson_interval(wins, len(records))
    times = [r["median_plan_s"] for r in records if r["median_plan_s"] is not None]
    return {"episodes": len(records), "successes": wins, "success_rate": wins / max(1, len(records)),
            "wilson95": [low, high], "solved_at_start": sum(r.get("solved_at_start", False) for r in records),
            "median_plan_s": statistics.median(times) if times else None,
            "mean_steps_success": (statistics.mean(r["steps"] for r in records if r["success"])
                                   if wins else None)}


def shift_name(vary: dict[str, Any] | None) -> str:
    """A file-name-safe name of a shift: {'block_colour': (200, 60, 60)} -> 'block_colour-200-60-60'."""
    def text(v: Any) -> str:
        return "-".join(f"{float(x):g}" for x in v) if isinstance(v, (tuple, list)) else f"{float(v):g}"
    return "_".join(f"{k}-{text(v)}" for k, v in (vary or {}).items())


def evaluate(model: WorldModel, run: RunConfig, protocol_name: str, config: EvalConfig | None = None,
             episodes: int | None = None, out_dir: str | Path | None = None, baseline: bool = True,
             progress: bool = True, graph: MemoryGraph | None = None,
             reason: ReasonConfig | None = None, vary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the model on a named protocol; writes episodes.jsonl and summary.json to out_dir.

    With a memory ``graph`` the agent plans through subgoals from memory, and the same MPC agent
    without memory ("flat": same model, planner and budget) runs the same episodes beside it.
    ``vary`` shifts factors of variation of the world (e.g. ``{"block_colour": (200, 60, 60)}``,
    see ``openami.worlds.parse_factors``): the same start and goal states, drawn in the world as
    trained, played in a world the model never saw (after a size shift, bodies may start touching);
    its files are named ``<protocol>.<shift>.*``.
    """
    protocol: Protocol = PROTOCOLS.get(protocol_name)
    config = config or EvalConfig()
    if protocol.world != run.world:
        raise ValueError(f"protocol {protocol.name} is defined on {protocol.world}, but the model was "
                         f"trained on {run.world}")
    env = make_world(protocol.world, **run.world_kwargs)
    tasks = protocol.tasks(env, episodes)  # drawn in the world as trained: a shift keeps the tasks' states
    if vary:
        env.close()
        env = make_world(protocol.world, **{**run.world_kwargs, **vary})
    radius = protocol.success_radius * env.unwrapped.arena_width
    policies: dict[str, Policy] = {"agent": make_agent(model, run, config, env)}
    if graph is not None:
        from openami.reasoning import SubgoalAgent

        flat = {"flat": policies["agent"]} if baseline else {}
        policies = {"agent": make_agent(model, run, config, env, SubgoalAgent, graph=graph, reason=reason), **flat}
    if baseline:
        policies["random"] = RandomPolicy(env, seed=0)
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in policies}
    shift = shift_name(vary)
    label = f"{protocol.name} {shift}" if shift else protocol.name
    bar = tqdm(total=len(tasks) * len(policies), desc=label, disable=not progress, dynamic_ncols=True)
    for name, policy in policies.items():
        for i, task in enumerate(tasks):
            record = run_episode(env, policy, task, protocol.budget, radius, judge=protocol.judge)
            if hasattr(policy, "events"):  # the subgoal agent: its re-plans and why
                record["replans"] = [e["why"] for e in policy.events]
            records[name].append({"protocol": protocol.name, "version": protocol.version,
                                  "policy": name, "episode": i, **record})
            bar.update(1)
            if name == "agent":
                wins = sum(r["success"] for r in records[name])
                bar.set_postfix(success=f"{wins}/{i + 1}")
    bar.close()
    env.close()
    summary = {"protocol": protocol.name, "version": protocol.version, "protocol_episodes": protocol.episodes,
               "planner": config.planner, "objective": config.objective, "search": config.search.to_dict(),
               "memory": graph is not None, "vary": {k: list(v) if isinstance(v, tuple) else v
                                                     for k, v in (vary or {}).items()},
               **summarize(protocol, records["agent"])}
    for name in records:
        if name != "agent":
            summary[name] = summarize(protocol, records[name])
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{protocol.name}.{shift}" if shift else protocol.name
        with (out / f"{stem}.episodes.jsonl").open("w") as f:
            for name in records:
                for r in records[name]:
                    f.write(json.dumps(r) + "\n")
        (out / f"{stem}.summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def plan_episode(model: WorldModel, run: RunConfig, config: EvalConfig, start: list[float] | None = None,
                 goal: list[float] | None = None, seed: int = 0, budget: int = 200,
                 gif: str | Path | None = None, radius: float = 16 / 224) -> dict[str, Any]:
    """One episode toward a goal; start/goal are true states (TwoRoom) or drawn from `seed`.

    Worlds placed by their whole state (PushT, Reacher) take task `seed` of their protocol. Worlds
    that cannot be placed at a state (any Gymnasium env) start from reset(seed) and aim at the
    frame the exploration policy reaches 25 steps after that reset.
    """
    from openami.data.collect import rollout_policy
    from openami.data.policies import PolicyConfig
    from openami.report.gif import save_episode_gif

    env = make_world(run.world, **run.world_kwargs)
    world = env.unwrapped
    agent = make_agent(model, run, config, env)
    placeable = getattr(world, "position_goals", False)
    protocols = [p for p in map(PROTOCOLS.get, PROTOCOLS.names()) if p.world == run.world]
    if not placeable and protocols and start is None and goal is None:
        # A world placed by its whole state (PushT, Reacher): task `seed` of its first protocol.
        protocol = protocols[0]
        if seed < 0:
            raise ValueError(f"--seed must be >= 0, got {seed}")
        task = protocol.tasks(env, seed + 1)[seed]
        result = run_episode(env, agent, task, budget, protocol.success_radius * world.arena_width,
                             record=gif is not None, judge=protocol.judge)
        goal_image = world.render_state(task.goal)
    elif placeable:
        rng = np.random.default_rng(seed)
        room = int(rng.integers(0, 2))
        start_state = np.asarray(start if start is not None else world.sample_free_position(rng, room), np.float32)
        goal_state = np.asarray(goal if goal is not None else world.sample_free_position(rng, 1 - room),
                                np.float32)
        for name, state in (("--start", start_state), ("--goal", goal_state)):
            if state.shape != (2,) or not world.is_free(state):
                raise ValueError(f"{name} {state.tolist()} is not a free position in {run.world} "
                                 "(x,y in [0,1], outside the wall)")
        result = run_episode(env, agent, Task(start_state, goal_state), budget,
                             radius * world.arena_width, record=gif is not None)
        goal_image = world.render_state(goal_state)
    else:
        if start is not None or goal is not None:
            raise ValueError(f"{run.world} cannot be placed at a given state: omit --start/--goal")
        low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
        pixels, _, _ = rollout_policy(env, PolicyConfig(), low, high, seed, 26)
        goal_image = pixels[-1]
        obs, _ = env.reset(seed=seed)
        agent.set_goal(goal_image)
        frames = [obs]
        for _ in range(budget):
            obs, *_ = env.step(agent.act(obs))
            frames.append(obs)
        result = {"success": None, "steps": budget, "min_distance": float("nan"), "frames": frames,
                  "plan_calls": len(agent.plan_seconds), "median_plan_s": statistics.median(agent.plan_seconds)}
    result.pop("trajectory", None)
    if gif is not None:
        save_episode_gif(result.pop("frames"), goal_image, gif)
    env.close()
    return result
