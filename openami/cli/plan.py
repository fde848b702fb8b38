"""`ami plan`: one episode toward a goal image, saved as a GIF."""

from __future__ import annotations

import argparse

from openami.cli.common import add_device_argument, add_preset_argument, load_for_planning, preset_from


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="plan one episode toward a goal image and save it as a GIF",
                       description="Start the world at --start, give the agent the image of the world at --goal "
                                   "(TwoRoom positions x,y in [0,1]; default: a random start and a goal in the "
                                   "other room), and let it plan in latent space until it arrives or the budget "
                                   "runs out. Saves a GIF with the observation beside the goal image. "
                                   "With --far --memory MEM: reach a far goal by reasoning over memory: find the "
                                   "remembered states nearest the start and the goal, search the memory graph "
                                   "for a path, and hand its waypoints to the planner as subgoals, re-planning "
                                   "when surprised or stuck (default start/goal: task --seed of the maze-far "
                                   "protocol). Also saves a picture of the chosen path over the world.")
    p.add_argument("--run", required=True, help="run directory made by `ami train`")
    p.add_argument("--start", help="start state as comma-separated numbers, e.g. 0.2,0.7")
    p.add_argument("--goal", help="goal state as comma-separated numbers, e.g. 0.8,0.3")
    p.add_argument("--seed", type=int, default=0, help="seed for a random start/goal (default 0)")
    p.add_argument("--budget", type=int, default=None,
                   help="world steps allowed (default 200; with --far, the maze-far protocol's 400)")
    p.add_argument("--out", default="episode.gif", help="GIF to write (default episode.gif)")
    p.add_argument("--far", action="store_true", help="reason over the memory in --memory to reach a far goal")
    p.add_argument("--memory", help="memory directory made by `ami memory add` with a graph from `ami memory graph`")
    p.add_argument("--picture", help="with --far: PNG of the memory graph, the path and the way taken "
                                     "(default: --out with -path.png)")
    p.add_argument("--remember", type=int, default=0, metavar="K",
                   help="with --far: add every K-th frame of the episode to the memory (it grows; rebuild its "
                        "graph with `ami memory graph` to use them)")
    p.add_argument("--planner", help="cem or mppi (default: the preset's)")
    p.add_argument("--compile", action="store_true",
                   help="compile the planner's rollouts (torch.compile): faster plans after 30-70 s of compiling")
    add_preset_argument(p)
    add_device_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.evaluation.planning import plan_episode

    if args.far != bool(args.memory):
        raise ValueError("--far and --memory go together: --far --memory MEM plans through the memory in MEM")
    model, run_config, config = load_for_planning(args)
    if args.far:
        return _run_far(args, model, run_config, config)
    result = plan_episode(model, run_config, config, start=_state(args.start, "--start"),
                          goal=_state(args.goal, "--goal"), seed=args.seed, budget=args.budget or 200,
                          gif=args.out)
    if result["success"] is None:
        verdict = f"ran {result['steps']} steps toward the goal image (this world has no success test)"
    elif result["success"]:
        verdict = f"reached the goal in {result['steps']} steps"
    else:
        verdict = f"did not reach the goal in {result['steps']} steps (closest {result['min_distance']:.3f})"
    print(f"{verdict}; median plan {result['median_plan_s']:.4f}s; GIF saved to {args.out}")
    return 0


def _run_far(args: argparse.Namespace, model, run_config, config) -> int:
    from pathlib import Path

    from openami.evaluation.far import far_episode, load_memory_graph
    from openami.memory import MemoryStore

    preset = preset_from(args)
    picture = args.picture or str(Path(args.out).with_suffix("")) + "-path.png"
    graph = load_memory_graph(args.memory, args.run)
    with MemoryStore.open(args.memory, "a" if args.remember else "r") as store:
        result = far_episode(model, run_config, config, graph, store, start=_state(args.start, "--start"),
                             goal=_state(args.goal, "--goal"), seed=args.seed, budget=args.budget,
                             reason=preset.reason, gif=args.out, picture=picture, remember_every=args.remember)
    verdict = (f"reached the goal in {result['steps']} steps" if result["success"] else
               f"did not reach the goal in {result['steps']} steps (closest {result['min_distance']:.3f})")
    apart = "" if result["path_steps"] is None else f" {result['path_steps']} steps away"
    print(f"far goal{apart}: {verdict}; {len(result['replans'])} re-plans; "
          f"median plan {result['median_plan_s']:.4f}s; GIF {args.out}"
          + (f", path picture {result['picture']}" if result["picture"] else
             " (no path picture: the memory keeps no true states to draw it from)"))
    if args.remember:
        print(f"remembered {result['remembered']} new entries in {args.memory}")
    return 0


def _state(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated numbers like 0.2,0.7, got {text!r}") from None
