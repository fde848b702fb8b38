"""`ami train`: train a world model on a dataset."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from openami.cli.common import add_device_argument, add_preset_argument, preset_from

STALLED_RATIO = 2.0
"""A trained predictor's validation loss should be this many times below copying the last embedding's. Over 3
open-loop steps on held-out episodes, healthy physics runs end 4.1-4.6x below it and TwoRoom's demo run 35x; a
physics run that stalled ended 1.3x below it (BENCHMARKS.md, 'The pushed body')."""


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a JEPA world model from pixels and actions",
                       description="Train an encoder and an action-conditioned predictor end to end with "
                                   "multi-step latent prediction plus SIGReg (or VICReg). Writes config.yaml, "
                                   "safetensors checkpoints, metrics.jsonl and TensorBoard events to --out. "
                                   "Runs unchanged under `torchrun --nproc_per_node=N -m openami train ...` "
                                   "(data-parallel, gloo on CPU, NCCL on CUDA); --nproc N launches that for you.",
                       epilog="The global batch (--batch-size) is split evenly across processes, and SIGReg, VICReg "
                              "and BatchNorm see the whole global batch, so N processes train the same objective "
                              "as one. Only rank 0 writes checkpoints and logs.")
    add_preset_argument(p)
    p.add_argument("--data", help="dataset directory made by `ami collect` (not needed with --resume)")
    p.add_argument("--out", required=True, help="run directory to create (or continue with --resume)")
    p.add_argument("--steps", type=int, help="total optimizer steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="windows per step")
    p.add_argument("--seed", type=int, help="seed of initialisation and sampling")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_device_argument(p)
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                   help="bf16: bfloat16 autocast of the forward pass; auto: bf16 where the CPU or GPU has bf16 "
                        "units, else fp32 (default: the preset's)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N data-parallel processes on this machine (runs torchrun --standalone)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openami.distributed import launched_by_torchrun
    from openami.training import fit, resume

    if args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}")
    if args.nproc > 1 and not launched_by_torchrun():
        return subprocess.call(torchrun_command(args))
    if args.resume:
        result = resume(args.out, steps=args.steps, progress=not args.quiet)
    else:
        if args.data is None:
            raise ValueError("--data DIR is required to start a run (only --resume can do without it)")
        preset = preset_from(args)
        overrides = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
                     "precision": args.precision}
        train_cfg = preset.train.replace(**{k: v for k, v in overrides.items() if v is not None})
        result = fit(args.data, args.out, preset.model, train_cfg, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 reports for all
        print(f"trained {result.steps} steps in {result.seconds:.0f}s; final loss {result.final_loss:.4f}, "
              f"validation prediction loss {result.val_loss:.4f} (copying the last embedding: "
              f"{result.val_copy_last_loss:.4f}); run in {result.run_dir}")
        if result.val_loss * STALLED_RATIO > result.val_copy_last_loss:
            print(f"warning: the predictor's validation loss is not {STALLED_RATIO:g}x below that of copying the "
                  f"last embedding, so it has learnt little of how the world moves: too few steps, or a run that "
                  f"stalled (BENCHMARKS.md, 'The pushed body'); train longer or with another --seed",
                  file=sys.stderr)
    if launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1:
        # The run is on disk and the group is left. Skip interpreter finalization, where gloo's worker
        # threads can still abort a rank (SIGABRT, "terminate called without an active exception"),
        # which torchrun would report as a failed run (seen once in a full test run, not in 5 repeats of the
        # test alone); tests/unit/training/test_distributed.py leaves its ranks the same way.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def torchrun_command(args: argparse.Namespace) -> list[str]:
    """`ami train` with the same settings, as N processes of torchrun on this machine."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "openami", "train", "--preset", args.preset, "--out", args.out]
    for flag, value in (("--data", args.data), ("--steps", args.steps), ("--batch-size", args.batch_size),
                        ("--seed", args.seed), ("--device", args.device), ("--precision", args.precision),
                        ("--threads", args.threads)):
        if value is not None:
            command += [flag, str(value)]
    return command + [flag for flag, on in (("--resume", args.resume), ("--quiet", args.quiet)) if on]
