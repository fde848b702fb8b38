"""Far goals: the memory graph built from a store, the subgoal agent, and one episode drawn as a picture."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from openami.agent import HeldActions
from openami.evaluation.planning import EvalConfig, make_agent, run_episode
from openami.evaluation.protocols import PROTOCOLS, Task
from openami.memory import MemoryStore
from openami.memory.graph import GraphConfig, MemoryGraph, build_graph
from openami.memory.ingest import check_same_model, model_fingerprint
from openami.models import WorldModel
from openami.reasoning import ReasonConfig, SubgoalAgent
from openami.training.config import RunConfig
from openami.worlds import make_world


def build_memory_graph(store: MemoryStore, model: WorldModel, run: RunConfig, run_dir: str | Path,
                       config: GraphConfig | None = None, progress: bool = True) -> MemoryGraph:
    """Build the graph over every entry of ``store`` with the world model (of ``run_dir``) that made them."""
    fingerprint = model_fingerprint(run_dir)
    check_same_model(store, fingerprint, run_dir)
    entries = store.get(store.ids)
    graph = build_graph(HeldActions(model, run.train.frameskip), entries.z, entries.ids, entries.episode,
                        entries.step, run.train.frameskip, run.world_action_dim, config, progress)
    graph.info.update(model_sha256=fingerprint["model_sha256"], memory_entries=len(store))
    return graph


def load_memory_graph(memory: str | Path, run_dir: str | Path) -> MemoryGraph:
    """The graph saved beside a memory store, checked against the run whose model will plan with it."""
    fingerprint = model_fingerprint(run_dir)["model_sha256"]
    graph = MemoryGraph.load(memory)
    built_with = graph.info.get("model_sha256")
    if built_with != fingerprint:
        raise ValueError(f"the memory graph in {memory} was built with another model ({str(built_with)[:12]}...), "
                         f"not this run's ({fingerprint[:12]}...): embeddings of different encoders do not "
                         f"compare; make a memory for this run (ami memory add --run RUN ...) and build its graph")
    return graph


def far_episode(model: WorldModel, run: RunConfig, config: EvalConfig, graph: MemoryGraph,
                store: MemoryStore | None, start: list[float] | None = None, goal: list[float] | None = None,
                seed: int = 0, budget: int | None = None, reason: ReasonConfig | None = None,
                gif: str | Path | None = None, picture: str | Path | None = None,
                remember_every: int = 0) -> dict[str, Any]:
    """One far-goal episode; start/goal default to task ``seed`` of the maze-far protocol.

    Saves the episode as a GIF and a picture of the memory graph, the path chosen and the way
    taken over the world (drawn from true states, which only the picture uses). With
    ``remember_every`` = K > 0 the episode's every K-th frame is added to ``store`` (opened for
    appending) as a new episode: the memory grows with what the agent sees.
    """
    from openami.report.gif import save_episode_gif
    from openami.report.memory_path import plot_memory_path

    protocol = PROTOCOLS.get("maze-far")
    env = make_world(run.world, **run.world_kwargs)
    world = env.unwrapped
    if not getattr(world, "position_goals", False):
        raise ValueError(f"{run.world} cannot be placed at a state, so it has no far-goal tasks; use a maze run")
    if start is None or goal is None:
        if run.world != protocol.world:
            raise ValueError(f"give --start and --goal: random far tasks are drawn in {protocol.world} only")
        task = protocol.tasks(env, seed + 1)[seed]
        start = task.start if start is None else start
        goal = task.goal if goal is None else goal
    start_state, goal_state = np.asarray(start, np.float32), np.asarray(goal, np.float32)
    for name, state in (("--start", start_state), ("--goal", goal_state)):
        if state.shape != (2,) or not world.is_free(state):
            raise ValueError(f"{name} {state.tolist()} is not a free position in {run.world}: give x,y in "
                             "[0,1] outside the walls")
    agent = make_agent(model, run, config, env, SubgoalAgent, graph=graph, reason=reason)
    radius = protocol.success_radius * world.arena_width
    result = run_episode(env, agent, Task(start_state, goal_state), budget or protocol.budget, radius, record=True)
    frames = result.pop("frames")
    if remember_every:
        result["remembered"] = _remember(store, model, frames, result["trajectory"], remember_every)
    steps_apart = world.path_steps(start_state, goal_state) if hasattr(world, "path_steps") else None
    result.update(replans=agent.events, path_nodes=len(agent.path), path_steps=steps_apart)
    goal_image = world.render_state(goal_state)
    if gif is not None:
        save_episode_gif(frames, goal_image, gif)
    result["picture"] = None
    if picture is not None and store is not None and store.state_dim:  # drawn from true states, if kept
        node_xy = store.get(graph.node_entries).state[:, :2]
        trajectory = np.array(result.pop("trajectory"))
        verdict = f"reached in {result['steps']} steps" if result["success"] else "not reached"
        plot_memory_path(world.empty_image(), node_xy, graph.src, graph.dst, agent.first_path,
                         trajectory, start_state, goal_state, picture, world.arena_width,
                         title=f"far goal{_apart(steps_apart)}: {verdict}, "
                               f"{len(agent.events)} re-plans")
        result["picture"] = str(picture)
    result.pop("trajectory", None)
    result["median_plan_s"] = statistics.median(agent.plan_seconds) if agent.plan_seconds else None
    env.close()
    return result


def _remember(store: MemoryStore | None, model: WorldModel, frames: list[np.ndarray], states: list, every: int) -> int:
    """Add every ``every``-th frame of an episode to the store as its next episode; entries added."""
    from openami.evaluation.embed import encode_frames
    from openami.memory.ingest import thumbnails

    if store is None:
        raise ValueError("remembering an episode needs the memory store it goes into")
    rows = np.arange(0, len(frames), every)
    pixels = np.stack([frames[i] for i in rows])
    last = store.stats()["episode_range"][1]
    state = np.asarray(states, np.float32)[rows] if store.state_dim else None
    episode = np.full(len(rows), 0 if last is None else last + 1)
    store.add(encode_frames(model, pixels), thumbnails(pixels), episode=episode, step=rows, state=state, commit=True)
    return len(rows)


def _apart(steps: int | None) -> str:
    return "" if steps is None else f" {steps} steps away"
