"""`ami plan`: one episode toward a goal image, saved as a GIF."""

from __future__ import annotations

import argparse

from openami.cli.common import add_device_argument, add_preset_argument, load_for_planning


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="plan one episode toward a goal image and save it as a GIF",
                       description="Start the world at --start, give the agent the image of the world at --goal "
                                   "(TwoRoom positions x,y in [0,1]; default: a random start and a goal in the "
                                   "other room), and let it plan in latent space until it arrives or the budget "
                                   "runs out. Saves a GIF with the observation beside the goal image.")
    p.add_argument("--run", required=True, help="run directory made by `ami train`")
    p.add_argument("--start", help="start state as comma-separated numbers, e.g. 0.2,0.7")
    p.add_argument("--goal", help="goal state as comma-separated numbers, e.g. 0.8,0.3")
    p.add_argument("--seed", type=int, default=0, help="seed for a random start/goal (default 0)")
    p.add_argument("--budget", type=int, default=200, help="world steps allowed (default 200)")
    p.add_argument("--out", default="episode.gif", help="GIF to write (default episode.gif)")
    p.add_argument("--planner", help="cem or mppi (default: the preset's)")
    add_preset_argument(p)
    add_device_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.evaluation.planning import plan_episode

    model, run_config, config = load_for_planning(args)
    result = plan_episode(model, run_config, config, start=_state(args.start, "--start"),
                          goal=_state(args.goal, "--goal"), seed=args.seed, budget=args.budget, gif=args.out)
    if result["success"] is None:
        verdict = f"ran {result['steps']} steps toward the goal image (this world has no success test)"
    elif result["success"]:
        verdict = f"reached the goal in {result['steps']} steps"
    else:
        verdict = f"did not reach the goal in {result['steps']} steps (closest {result['min_distance']:.3f})"
    print(f"{verdict}; median plan {result['median_plan_s']:.4f}s; GIF saved to {args.out}")
    return 0


def _state(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated numbers like 0.2,0.7, got {text!r}") from None
