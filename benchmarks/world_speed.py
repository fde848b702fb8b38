"""Time TwoRoom env.step (observation included) in one process, raw and through gymnasium.make.

python benchmarks/world_speed.py --steps 20000 --size 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium
import numpy as np
from provenance import provenance, write_json

from openami.worlds import TwoRoomEnv, make_world


def steps_per_second(env: gymnasium.Env, actions: np.ndarray) -> float:
    """Steps per second over ``actions``, after one reset and a short warm-up."""
    env.reset(seed=0)
    for action in actions[:100]:  # first-step checks of the passive env checker, caches
        env.step(action)
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return len(actions) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000, help="timed steps per variant")
    parser.add_argument("--size", type=int, default=64, help="observation side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant; the median is kept")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/world_speed.json"))
    args = parser.parse_args(argv)

    actions = np.random.default_rng(0).uniform(-1, 1, (args.steps, 2)).astype(np.float32)
    variants = {
        "raw TwoRoomEnv": TwoRoomEnv(render_mode="rgb_array", size=args.size),
        "gymnasium.make (make_world)": make_world("tworoom", size=args.size),
    }
    # Interleave the repeats so that load from other processes hits both variants alike.
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, env in variants.items():
            runs[name].append(steps_per_second(env, actions))
    figures = {name: float(np.median(rates)) for name, rates in runs.items()}

    width = max(len(name) for name in figures)
    print(
        f"TwoRoom step + {args.size}x{args.size} observation, {args.steps} steps x {args.repeats} "
        "repeats (median), one process"
    )
    print(f"{'variant':<{width}}  {'steps/s':>10}  {'us/step':>8}")
    for name, rate in figures.items():
        print(f"{name:<{width}}  {rate:>10,.0f}  {1e6 / rate:>8.1f}")

    settings = {"world": "tworoom", "steps": args.steps, "size": args.size, "repeats": args.repeats,
                "action_seed": 0, "gymnasium": gymnasium.__version__}
    record = {"benchmark": "world_speed", **provenance(settings),
              "steps_per_second": {name: round(rate, 1) for name, rate in figures.items()},
              "steps_per_second_runs": {name: [round(r, 1) for r in rates] for name, rates in runs.items()}}
    write_json(args.out, record)
    print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
