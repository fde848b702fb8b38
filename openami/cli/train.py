"""`ami train`: train a world model on a dataset."""

from __future__ import annotations

import argparse

from openami.cli.common import add_device_argument, add_preset_argument, preset_from


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a JEPA world model from pixels and actions",
                       description="Train an encoder and an action-conditioned predictor end to end with "
                                   "multi-step latent prediction plus SIGReg (or VICReg). Writes config.yaml, "
                                   "safetensors checkpoints, metrics.jsonl and TensorBoard events to --out.")
    add_preset_argument(p)
    p.add_argument("--data", help="dataset directory made by `ami collect` (not needed with --resume)")
    p.add_argument("--out", required=True, help="run directory to create (or continue with --resume)")
    p.add_argument("--steps", type=int, help="total optimizer steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="windows per step")
    p.add_argument("--seed", type=int, help="seed of initialisation and sampling")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_device_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.training import fit, resume

    if args.resume:
        result = resume(args.out, steps=args.steps, progress=not args.quiet)
    else:
        if args.data is None:
            raise ValueError("--data DIR is required to start a run (only --resume can do without it)")
        preset = preset_from(args)
        overrides = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "device": args.device}
        train_cfg = preset.train.replace(**{k: v for k, v in overrides.items() if v is not None})
        result = fit(args.data, args.out, preset.model, train_cfg, progress=not args.quiet)
    print(f"trained {result.steps} steps in {result.seconds:.0f}s; final loss {result.final_loss:.4f}, "
          f"validation prediction loss {result.val_loss:.4f}; run in {result.run_dir}")
    return 0
