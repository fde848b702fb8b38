"""`ami demo`: the whole loop on the built-in world, with no flags and nothing downloaded."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="collect -> train -> evaluate -> report on TwoRoom (about 3 min on 2 cores)",
                       description="Collect reward-free experience in TwoRoom, train a JEPA world model on it, "
                                   "evaluate latent-space planning on both TwoRoom protocols (on fewer episodes "
                                   "than the protocols define, to stay fast; `ami eval` runs them in full), and "
                                   "write a report folder: loss curves (PNG), a planned episode (GIF), the "
                                   "numbers (JSON) and an index.html that shows them.")
    p.add_argument("--out", default="ami-demo", help="report folder (default ami-demo); must not hold a demo")
    p.add_argument("--preset", default="tworoom", help="preset name or YAML file (default tworoom)")
    p.add_argument("--episodes", type=int, help="override the episodes collected")
    p.add_argument("--steps", type=int, help="override the training steps")
    p.add_argument("--eval-episodes", type=int, help="override the episodes evaluated per protocol")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.demo import run_demo

    report = run_demo(args.out, args.preset, episodes=args.episodes, steps=args.steps,
                      eval_episodes=args.eval_episodes, progress=not args.quiet)
    print(f"\nreport written to {report}/index.html")
    return 0
