"""`ami eval plan|probe|surprise|rollout`: planning success and physical understanding of a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openami.cli.common import add_device_argument, add_preset_argument, load_for_planning, preset_from

KINDS = ("plan", "probe", "surprise", "rollout")
"""`ami eval` with no kind (only flags) means `ami eval plan`, as before the others existed."""

DESCRIPTION = """\
Evaluate a trained run:
  plan      planning success on a frozen protocol, with a random-action baseline
  probe     linear and MLP probes of physical quantities from frozen embeddings
  surprise  AUROC of surprise at impossible events (physics world)
  rollout   open-loop latent error against horizon; --decoder adds a GIF of imagined futures
`ami eval --run R ...` is short for `ami eval plan --run R ...`.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate planning, probes, surprise or open-loop prediction",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="eval_kind", metavar="KIND", required=True)
    _add_plan(kinds)
    _add_probe(kinds)
    _add_surprise(kinds)
    _add_rollout(kinds)


def _common(p: argparse.ArgumentParser, out_help: str, preset_device: bool = False) -> None:
    p.add_argument("--run", required=True, help="run directory made by `ami train`")
    p.add_argument("--out", help=out_help)
    if preset_device:  # planning takes its device from the preset's eval settings
        add_device_argument(p)
    else:
        p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_plan(kinds) -> None:
    from openami.evaluation.protocols import PROTOCOLS

    p = kinds.add_parser("plan", help="planning success on a named protocol",
                         description="Run a frozen protocol's episodes with the latent MPC agent and a random-action "
                                     "baseline; print the success rate with a Wilson 95 % interval and the median "
                                     "seconds per plan call; write one JSONL record per episode and a summary.")
    _common(p, "folder for <protocol>.episodes.jsonl and <protocol>.summary.json", preset_device=True)
    p.add_argument("--protocol", default="tworoom-offset25", choices=PROTOCOLS.names(),
                   help="which protocol (default: tworoom-offset25)")
    p.add_argument("--episodes", type=int, help="evaluate only the first N of the protocol's episodes")
    p.add_argument("--planner", help="cem or mppi (default: the preset's)")
    p.add_argument("--compile", action="store_true",
                   help="compile the planner's rollouts (torch.compile): faster plans after 30-70 s of compiling")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baselines (random actions; with --memory, also the agent without memory)")
    p.add_argument("--memory", help="plan through subgoals from this memory's graph (ami memory add / graph); "
                                    "the same agent without memory runs the same episodes beside it")
    p.add_argument("--vary", action="append", metavar="NAME=VALUE",
                   help="out-of-distribution check: shift a factor of the world (PushT: block_colour=R,G,B, "
                        "pusher_colour, background, block_scale, pusher_radius; Reacher: arm_colour, "
                        "background) and run the same tasks; repeat for several shifts, each evaluated on its own")
    add_preset_argument(p)
    p.set_defaults(handler=run_plan)


def _add_probe(kinds) -> None:
    p = kinds.add_parser("probe", help="probe physical quantities from frozen embeddings",
                         description="Fit a linear (ridge) probe and an MLP probe from the run's frozen embeddings "
                                     "to the world's true quantities (TwoRoom: agent position; physics world: each "
                                     "body's position, velocity and angle), on disjoint train and test episodes, and "
                                     "the same probes on a randomly initialised encoder of the same shape. Prints R² "
                                     "per quantity; writes probe.json and probe.png.")
    _common(p, "folder for probe.json and probe.png (default: RUN/eval)")
    p.add_argument("--data", help="dataset to probe on (default: the one the run was trained on)")
    p.add_argument("--frames", type=int, default=20000, help="frames to fit the probes on (default 20000)")
    p.add_argument("--no-baseline", action="store_true", help="skip the random-encoder baseline")
    p.set_defaults(handler=run_probe)


def _add_surprise(kinds) -> None:
    p = kinds.add_parser("surprise", help="AUROC of surprise at impossible events",
                         description="Generate pairs of clips in the physics world, a possible one and an impossible "
                                     "twin identical up to an event frame (teleport, vanish, appear, pass-through, "
                                     "velocity jump, colour or shape change). Surprise is the latent "
                                     "prediction error (of predictions made one and two steps before, by default) "
                                     "measured against the errors on possible clips and z-scored; a clip's score "
                                     "is its peak. Beside it, the same score with a prediction that nothing "
                                     "changes (the last embedding): what detecting change alone flags. "
                                     "Prints AUROC per violation type; writes surprise.json and surprise.png.")
    _common(p, "folder for surprise.json and surprise.png (default: RUN/eval)")
    p.add_argument("--clips", type=int, default=50, help="pairs per violation type (default 50)")
    p.add_argument("--no-baseline", action="store_true", help="skip the copy-last-embedding baseline")
    p.add_argument("--violations", help="comma-separated types to score (default: all)")
    p.add_argument("--scale", default="covariance",
                   help="covariance: measure a residual by the covariance of the residuals on possible clips; "
                        "diagonal: per dimension alone, as scored before this option existed (default: covariance)")
    p.add_argument("--shrinkage", type=_shrinkage,
                   help="how far the covariance scale pulls the residuals' correlations toward none: a number "
                        "from 0 (as measured) to 1 (none, the diagonal scale), or 'lw' for Ledoit-Wolf's choice "
                        "(default: surprise.shrinkage's, see BENCHMARKS.md)")
    p.add_argument("--horizons", type=int, default=2,
                   help="average the errors of predictions made 1..N steps before each frame (default 2: a "
                        "slow pass-through drifts further from a prediction made before it began)")
    p.set_defaults(handler=run_surprise)


def _shrinkage(text: str) -> float | str:
    if text == "lw":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1 or 'lw', got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1 or 'lw', got {text!r}")
    return value


def _add_rollout(kinds) -> None:
    p = kinds.add_parser("rollout", help="open-loop prediction error against horizon",
                         description="Roll the predictor out open-loop from real embeddings under the real actions "
                                     "on the run's held-out episodes; print the latent error at each step beside "
                                     "the copy-last-embedding baseline; write rollout.json and rollout.png. With "
                                     "--decoder, also train (once) a small pixel decoder on frozen embeddings and "
                                     "write imagination.gif: real | decoded real | decoded imagination.")
    _common(p, "folder for rollout.json, rollout.png and imagination.gif (default: RUN/eval)")
    p.add_argument("--data", help="dataset to roll out on (default: the one the run was trained on)")
    p.add_argument("--horizon", type=int, default=10, help="open-loop model steps (default 10)")
    p.add_argument("--decoder", action="store_true", help="also decode imagined futures into imagination.gif")
    p.add_argument("--decoder-steps", type=int, default=600, help="decoder training steps (default 600)")
    p.set_defaults(handler=run_rollout)


def _load(args: argparse.Namespace):
    from openami.training import load_model

    model, run_config = load_model(args.run, args.device)
    return model, run_config, Path(args.out) if args.out else Path(args.run) / "eval"


def run_plan(args: argparse.Namespace) -> int:
    from openami.evaluation.planning import evaluate

    model, run_config, config = load_for_planning(args)
    graph = None
    if args.memory:
        from openami.evaluation.far import load_memory_graph

        graph = load_memory_graph(args.memory, args.run)
    from openami.worlds import parse_factors

    shifts = [parse_factors(run_config.world, [shift]) for shift in args.vary] if args.vary else [None]
    for vary in shifts:
        summary = evaluate(model, run_config, args.protocol, config, episodes=args.episodes, out_dir=args.out,
                           baseline=not args.no_baseline, progress=not args.quiet, graph=graph,
                           reason=preset_from(args).reason, vary=vary)
        print(format_summary(summary))
        if args.out is None:
            print(json.dumps(summary))
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from openami.evaluation.probe import ProbeConfig, format_probe_table
    from openami.evaluation.understanding import run_probe as probe

    model, run_config, out = _load(args)
    config = ProbeConfig(max_train_frames=args.frames)
    result = probe(model, run_config, out, data=args.data, config=config, random_baseline=not args.no_baseline)
    print(format_probe_table(result))
    print(f"wrote {out / 'probe.json'} and {out / 'probe.png'}")
    return 0


def run_surprise(args: argparse.Namespace) -> int:
    from openami.evaluation.surprise import SurpriseConfig, format_surprise_table
    from openami.evaluation.understanding import run_surprise as surprise

    model, run_config, out = _load(args)
    violations = tuple(v.strip() for v in args.violations.split(",") if v.strip()) if args.violations else ()
    config = SurpriseConfig(clips_per_violation=args.clips, violations=violations, scale=args.scale,
                            horizons=args.horizons)
    if args.shrinkage is not None:
        config = config.replace(shrinkage=None if args.shrinkage == "lw" else args.shrinkage)
    result = surprise(model, run_config, out, config, progress=not args.quiet, baseline=not args.no_baseline)
    print(format_surprise_table(result))
    print(f"wrote {out / 'surprise.json'} and {out / 'surprise.png'}")
    return 0


def run_rollout(args: argparse.Namespace) -> int:
    from openami.evaluation.rollout import format_rollout_table
    from openami.evaluation.understanding import run_rollout as rollout
    from openami.models.decoder import DecoderConfig

    model, run_config, out = _load(args)
    result = rollout(model, args.run, run_config, out, data=args.data, horizon=args.horizon, decoder=args.decoder,
                     decoder_config=DecoderConfig(steps=args.decoder_steps), progress=not args.quiet)
    print(format_rollout_table(result))
    written = ["rollout.json", "rollout.png"] + (["imagination.gif"] if args.decoder else [])
    print("wrote " + ", ".join(str(out / w) for w in written))
    return 0


def format_summary(s: dict) -> str:
    lo, hi = s["wilson95"]
    note = "" if s["episodes"] == s["protocol_episodes"] else \
        f" (only {s['episodes']} of the protocol's {s['protocol_episodes']} episodes)"
    plan_s = f"{s['median_plan_s']:.4f}s" if s["median_plan_s"] is not None else "-"
    memory = " with memory" if s.get("memory") else ""
    shift = ", ".join(f"{k}={v}" for k, v in s.get("vary", {}).items())
    lines = [f"{s['protocol']} v{s['version']}{note}" + (f", world shifted: {shift}" if shift else ""),
             f"  agent ({s['planner']}, {s['objective']} cost{memory}): {s['successes']}/{s['episodes']} = "
             f"{100 * s['success_rate']:.1f}%  [95% CI {100 * lo:.1f}-{100 * hi:.1f}]  median plan {plan_s}"]
    for key, label in (("flat", "same agent, no memory"), ("random", "random actions")):
        if key in s:
            r = s[key]
            lines.append(f"  {label}: {r['successes']}/{r['episodes']} = {100 * r['success_rate']:.1f}%  "
                         f"[95% CI {100 * r['wilson95'][0]:.1f}-{100 * r['wilson95'][1]:.1f}]")
    if s.get("solved_at_start"):
        lines.append(f"  tasks whose start already meets the goal test: {s['solved_at_start']}/{s['episodes']}")
    return "\n".join(lines)
