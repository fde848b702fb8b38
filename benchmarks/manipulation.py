"""PushT and Reacher: planning success at LeWorldModel's offset-25 protocols, trained on this CPU.

python benchmarks/manipulation.py --work /tmp/manip            # both worlds (hours on 2 cores)
python benchmarks/manipulation.py --work /tmp/manip --sections pusht --steps 2000  # a shorter budget

Each section collects its preset's data (2 processes), trains the preset's model (keeping every
checkpoint; a finished run of the same settings already in --work/PRESET/run is scored as it is,
its training time read from its metrics.jsonl), then scores: success against training time
(each checkpoint, on the first --curve-episodes episodes), the final model on the full protocol
(100 episodes, with the random baseline and the tasks already solved at their start), the same
tasks under a colour shift and a size shift of the world, and the median seconds per plan call.
Writes benchmarks/results/manipulation.json (each section with git commit, date, CPUs, torch, settings)
and, beside it, manipulation-curve.png: success against training time, with each target.
python benchmarks/manipulation.py --plot-only   # redraws the PNG from the JSON, runs nothing
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import ROOT, print_table, run_sections

from openami.data.collect import collect
from openami.evaluation.planning import evaluate
from openami.models.config import ModelConfig
from openami.presets import load_preset
from openami.training import TrainConfig, fit, load_model
from openami.training.checkpoint import load_run_config, load_weights

WORLDS = {
    # preset: (protocol, shifts of the world's factors of variation)
    "pusht": ("pusht-offset25", {"colour": {"block_colour": (200, 60, 60)}, "size": {"block_scale": 1.2}}),
    "reacher": ("reacher-offset25", {"colour": {"arm_colour": (40, 90, 220)},
                                     "background": {"background": (200, 220, 200)}}),
}

TARGETS = {"pusht": 0.90, "reacher": 0.86}
"""The issue's success targets (LeWorldModel: PushT 96 %, Reacher 86 %)."""


def section(preset: str, work: Path, steps: int | None, episodes: int | None, curve_episodes: int) -> dict[str, Any]:
    protocol, shifts = WORLDS[preset]
    recipe = load_preset(preset)
    train = recipe.train.replace(steps=steps or recipe.train.steps)
    train = train.replace(keep_checkpoints=max(2, train.steps // train.checkpoint_every + 1))
    c = recipe.collect
    data, run_dir = work / preset / "data", work / preset / "run"
    t = time.time()
    if not (data / "manifest.json").is_file():
        collect(c.world, c.episodes, data, episode_length=c.episode_length, size=c.size, seed=c.seed,
                policy=c.policy, episodes_per_shard=c.episodes_per_shard, workers=2)
    collect_s = time.time() - t
    t = time.time()
    trained_before = (run_dir / "config.yaml").is_file()
    if trained_before:
        check_finished_run(run_dir, data, recipe.model, train)
    else:
        fit(data, run_dir, recipe.model, train)
    train_s = time.time() - t
    elapsed = {json.loads(line)["step"]: json.loads(line)["elapsed_s"]
               for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"elapsed_s"' in line}
    if trained_before:  # its own clock, from its first step to its last (without loading the data)
        train_s = elapsed[train.steps]

    model, run = load_model(run_dir)
    curve = []
    for checkpoint in sorted((run_dir / "checkpoints").glob("step-*")):
        step = int(checkpoint.name.split("-")[1])
        load_weights(model, checkpoint / "model.safetensors")
        summary = evaluate(model.eval(), run, protocol, recipe.eval, episodes=curve_episodes, baseline=False,
                           progress=False)
        curve.append({"step": step, "train_s": elapsed.get(step), "success_rate": summary["success_rate"],
                      "episodes": summary["episodes"]})
        print(f"  step {step}: {100 * summary['success_rate']:.0f}% of {summary['episodes']}", flush=True)
    model, run = load_model(run_dir)
    out = work / preset / "eval"
    full = evaluate(model, run, protocol, recipe.eval, episodes=episodes, out_dir=out)
    shifted = {name: evaluate(model, run, protocol, recipe.eval, episodes=episodes, out_dir=out, baseline=False,
                              vary=vary) for name, vary in shifts.items()}
    return {"preset": recipe.replace(train=train).to_dict(), "collect_s": collect_s, "train_s": train_s,
            "trained_before": trained_before,
            "protocol": full, "shifts": {k: {"vary": WORLDS[preset][1][k], **v} for k, v in shifted.items()},
            "curve": curve}


def check_finished_run(run_dir: Path, data: Path, model: ModelConfig, train: TrainConfig) -> None:
    """A run already in the work folder is scored only if it is the preset's, on this data, with every checkpoint."""
    config = load_run_config(run_dir)
    ours = {k: v for k, v in model.to_dict().items() if k not in ("image_size", "channels", "action_dim")}
    theirs = config.model.to_dict()  # as plain values: tuples read back from YAML as lists
    differ = [k for k, v in ours.items() if v != theirs[k]]
    differ += [f"train.{k}" for k, v in train.to_dict().items()
               if k != "keep_checkpoints" and v != getattr(config.train, k)]
    if Path(config.data).resolve() != data.resolve():
        differ.append(f"data {config.data}")
    if differ:
        raise SystemExit(f"{run_dir} was trained with other settings than the preset ({', '.join(differ)}): "
                         "delete it or choose another --work")
    kept = {int(c.name.split("-")[1]) for c in (run_dir / "checkpoints").glob("step-*")}
    missing = sorted({*range(train.checkpoint_every, train.steps + 1, train.checkpoint_every), train.steps} - kept)
    if missing:
        raise SystemExit(f"{run_dir} lacks the checkpoints of steps {missing}: if it stopped early, finish it with "
                         f"`ami train --resume --out {run_dir}`; if it deleted them, delete the run")


def plot_curves(results: dict[str, Any], out: Path) -> Path:
    """Success on the curve's episodes against training seconds, one line per world, its target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for preset in (p for p in WORLDS if p in results):
        curve = results[preset]["curve"]
        line, = ax.plot([c["train_s"] / 60 for c in curve], [100 * c["success_rate"] for c in curve], "o-",
                        label=f"{preset} (first {curve[0]['episodes']} episodes)")
        ax.axhline(100 * TARGETS[preset], ls="--", color=line.get_color(), alpha=0.6, label=f"{preset} target")
    ax.set_xlabel("training time of the scored run (minutes, CPU)")
    ax.set_ylabel("offset-25 success (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def table(results: dict[str, Any]) -> None:
    rows = []

    def pct(s: dict[str, Any]) -> str:
        lo, hi = s["wilson95"]
        return f"{100 * s['success_rate']:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}] of {s['episodes']}"

    for preset in WORLDS:
        if preset not in results:
            continue
        d = results[preset]
        p = d["protocol"]
        rows.append((f"{p['protocol']}", f">= {100 * TARGETS[preset]:.0f} %", pct(p)))
        rows.append((f"{p['protocol']}, random actions", "-", pct(p["random"])))
        rows.append((f"{p['protocol']}, tasks solved at their start", "-",
                     f"{p['solved_at_start']} of {p['episodes']}"))
        for name, s in d["shifts"].items():
            rows.append((f"{p['protocol']}, {name} shift {s['vary']}", "reported", pct(s)))
        rows.append((f"{preset} training time ({d['preset']['train']['steps']} steps)", "<= 10,800 s",
                     f"{d['train_s']:.0f} s"))
        rows.append((f"{preset} median s per plan", "<= 0.25 s", f"{p['median_plan_s']:.3f} s"))
        curve = ", ".join(f"{c['step']}: {100 * c['success_rate']:.0f}%" for c in d["curve"])
        rows.append((f"{preset} success by training step (first {d['curve'][0]['episodes']} episodes)", "-", curve))
    print_table(rows, ("figure", "target", "measured"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    parser.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    parser.add_argument("--episodes", type=int, help="fewer protocol episodes (for a quick look; not the figure)")
    parser.add_argument("--curve-episodes", type=int, default=30, help="episodes per checkpoint on the curve")
    parser.add_argument("--work", type=Path, help="folder for data and runs (default: a temporary one); "
                                                  "its data is reused, and a finished run of the preset there "
                                                  "is scored instead of trained again")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "manipulation.json")
    parser.add_argument("--plot-only", action="store_true", help="redraw the curve PNG from --out; run nothing")
    args = parser.parse_args(argv)
    curve_png = args.out.with_name(args.out.stem + "-curve.png")
    if args.plot_only:
        if not args.out.is_file():
            raise SystemExit(f"{args.out} does not exist: run the benchmark first (without --plot-only)")
        results = json.loads(args.out.read_text())
        table(results)
        print(f"wrote {plot_curves(results, curve_png)}")
        return results
    work = args.work or Path(tempfile.mkdtemp(prefix="openami-manip-"))
    settings = {"steps": args.steps or "preset", "episodes": args.episodes or "protocol",
                "curve_episodes": args.curve_episodes, "work": str(work)}
    sections = {name: (lambda name=name: section(name, work, args.steps, args.episodes, args.curve_episodes))
                for name in WORLDS}
    results = run_sections(args.sections, sections, lambda _: settings, args.out)
    table(results)
    print(f"wrote {args.out} and {plot_curves(results, curve_png)}")
    return results


if __name__ == "__main__":
    main()
