"""`ami collect`: reward-free experience from a world, written as a sharded dataset."""

from __future__ import annotations

import argparse

from openami.cli.common import add_preset_argument, preset_from
from openami.presets import preset_names


def add_parser(sub) -> None:
    p = sub.add_parser("collect", help="collect reward-free trajectories into a dataset",
                       description="Run the preset's exploration policy in a world (a random walk with momentum; "
                                   "scripted pushes for PushT) and write pixels, actions and true states as "
                                   "HDF5 shards plus manifest.json. "
                                   "An interrupted collection keeps every complete shard; --resume continues.")
    # A world's data policy matters (random pushes rarely touch PushT's block), so `--world pusht`
    # alone takes the pusht preset's collection settings rather than TwoRoom's.
    add_preset_argument(p, default=None, default_text="the preset named like --world if there is one, else tworoom")
    p.add_argument("--world", help="short name (tworoom) or any Gymnasium id with rgb_array rendering "
                                   "and a Box action space (default: the preset's)")
    p.add_argument("--episodes", type=int, help="episodes to collect (default: the preset's)")
    p.add_argument("--episode-length", type=int, help="world steps per episode")
    p.add_argument("--size", type=int, help="image height and width in pixels (default 64)")
    p.add_argument("--seed", type=int, help="episode i is seeded with seed + i")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument("--resume", action="store_true", help="continue an interrupted collection in --out")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run worlds in N processes, each writing whole shards (default 1)")
    p.add_argument("--backend", choices=["process", "ray"], default="process",
                   help="where the workers run: a local process pool, or Ray tasks (pip install 'openami[ray]'; "
                        "connects to a running Ray cluster when RAY_ADDRESS is set)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.data.collect import collect
    from openami.worlds import builtin_name

    if args.preset is None:  # a built-in world, by short name or Gymnasium id, brings its own preset
        name = builtin_name(args.world) if args.world else None
        args.preset = name if name in preset_names() else "tworoom"
    cfg = preset_from(args).collect
    overrides = {"world": args.world, "episodes": args.episodes, "episode_length": args.episode_length,
                 "size": args.size, "seed": args.seed}
    cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
    out = collect(cfg.world, cfg.episodes, args.out, episode_length=cfg.episode_length, size=cfg.size,
                  seed=cfg.seed, policy=cfg.policy, episodes_per_shard=cfg.episodes_per_shard,
                  resume=args.resume, progress=not args.quiet, workers=args.workers, backend=args.backend)
    print(f"dataset written to {out}")
    return 0
