"""The `ami` command: one subcommand per module, each a thin layer over the Python API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from openami.cli import collect, demo, evaluate, memory, plan, train

COMMANDS = {"collect": collect, "train": train, "plan": plan, "eval": evaluate, "memory": memory, "demo": demo}

DESCRIPTION = """\
openami: JEPA world models that learn a world from pixels and actions alone, then
plan toward goal images in latent space. Everything runs on a CPU by default.

typical use:
  ami demo                                   collect, train, evaluate, report (about 3 minutes on 2 cores)
  ami collect --world tworoom --episodes 300 --out data/tworoom
  ami train --data data/tworoom --out runs/tworoom
  ami eval plan --run runs/tworoom --protocol tworoom-offset25
  ami eval probe --run runs/tworoom          probes of the agent's position from frozen embeddings
  ami eval rollout --run runs/tworoom --decoder
  ami demo --preset physics                  physics world: probes, surprise at impossible events
  ami plan --run runs/tworoom --out episode.gif
  ami memory add --run runs/maze --data data/maze --memory mem/maze --every 5
  ami memory query --memory mem/maze --entry 0 -k 5
  ami memory graph --run runs/maze --memory mem/maze --preset maze
  ami plan --run runs/maze --far --memory mem/maze   a far goal, through subgoals found in memory
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ami", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub)
        del name
    add_threads_option(parser)
    return parser


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """`--threads N` on every command that does work (the leaves of the subcommand tree)."""
    subcommands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for action in subcommands:
        for child in action.choices.values():
            add_threads_option(child)
    if not subcommands:
        parser.add_argument("--threads", type=int, metavar="N",
                            help="CPU threads torch may use (default: one per core). Two jobs on one machine "
                                 "should split the cores between them: each taking them all slows both "
                                 "several times over (BENCHMARKS.md, 'Scaling out and speed')")


def limit_threads(threads: int | None) -> None:
    """Apply `--threads`: torch's CPU thread pool, and the variable that worker processes read."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # processes started from here (torchrun ranks) inherit it


def expand_shorthand(argv: list[str]) -> list[str]:
    """`ami eval --run R ...` (flags only) keeps meaning `ami eval plan --run R ...`."""
    if len(argv) >= 2 and argv[0] == "eval" and argv[1].startswith("-") and argv[1] not in ("-h", "--help"):
        return ["eval", "plan", *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(expand_shorthand(list(sys.argv[1:] if argv is None else argv)))
    if args.command is None:
        parser.print_help()
        return 2
    from openami.errors import USER_ERRORS

    try:
        limit_threads(getattr(args, "threads", None))
        return int(args.handler(args) or 0)
    except USER_ERRORS as err:
        print(f"ami {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ami {args.command}: interrupted; what was written so far is complete "
              "(use --resume to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
