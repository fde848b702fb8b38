"""`ami eval`: score a trained model on a named planning protocol."""

from __future__ import annotations

import argparse
import json

from openami.cli.common import add_device_argument, add_preset_argument, load_for_planning


def add_parser(sub) -> None:
    from openami.evaluation.protocols import PROTOCOLS

    p = sub.add_parser("eval", help="evaluate planning success on a named protocol",
                       description="Run a frozen protocol's episodes with the latent MPC agent and a random-action "
                                   "baseline; print the success rate with a Wilson 95%% interval and the median "
                                   "seconds per plan call; write one JSONL record per episode and a summary.")
    p.add_argument("--run", required=True, help="run directory made by `ami train`")
    p.add_argument("--protocol", default="tworoom-offset25", choices=PROTOCOLS.names(),
                   help="which protocol (default: tworoom-offset25)")
    p.add_argument("--episodes", type=int, help="evaluate only the first N of the protocol's episodes")
    p.add_argument("--out", help="folder for <protocol>.episodes.jsonl and <protocol>.summary.json")
    p.add_argument("--planner", help="cem or mppi (default: the preset's)")
    p.add_argument("--no-baseline", action="store_true", help="skip the random-action baseline")
    add_preset_argument(p)
    add_device_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.evaluation.planning import evaluate

    model, run_config, config = load_for_planning(args)
    summary = evaluate(model, run_config, args.protocol, config, episodes=args.episodes, out_dir=args.out,
                       baseline=not args.no_baseline, progress=not args.quiet)
    print(format_summary(summary))
    if args.out is None:
        print(json.dumps(summary))
    return 0


def format_summary(s: dict) -> str:
    lo, hi = s["wilson95"]
    note = "" if s["episodes"] == s["protocol_episodes"] else \
        f" (only {s['episodes']} of the protocol's {s['protocol_episodes']} episodes)"
    plan_s = f"{s['median_plan_s']:.4f}s" if s["median_plan_s"] is not None else "-"
    lines = [f"{s['protocol']} v{s['version']}{note}",
             f"  agent ({s['planner']}, {s['objective']} cost): {s['successes']}/{s['episodes']} = "
             f"{100 * s['success_rate']:.1f}%  [95% CI {100 * lo:.1f}-{100 * hi:.1f}]  median plan {plan_s}"]
    if "random" in s:
        r = s["random"]
        lines.append(f"  random actions: {r['successes']}/{r['episodes']} = {100 * r['success_rate']:.1f}%  "
                     f"[95% CI {100 * r['wilson95'][0]:.1f}-{100 * r['wilson95'][1]:.1f}]")
    return "\n".join(lines)
