"""The demo: collect -> train -> evaluate -> report, on a preset's world."""

from __future__ import annotations

import html
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from openami.data.collect import collect
from openami.evaluation.planning import evaluate, plan_episode
from openami.presets import load_preset
from openami.report import plot_training
from openami.training import fit, load_model


def run_demo(out: str | Path = "ami-demo", preset: str = "tworoom", episodes: int | None = None,
             steps: int | None = None, eval_episodes: int | None = None, progress: bool = True) -> Path:
    out = Path(out)
    if (out / "results.json").exists() or (out / "run" / "config.yaml").exists():
        raise FileExistsError(f"{out} already holds a demo: remove it or pass --out NEW_FOLDER")
    recipe = load_preset(preset)
    collect_cfg = recipe.collect.replace(episodes=episodes) if episodes else recipe.collect
    train_cfg = recipe.train.replace(steps=steps) if steps else recipe.train
    timings: dict[str, float] = {}
    began = time.time()

    def say(message: str) -> None:
        if progress:
            print(f"[demo {time.time() - began:5.0f}s] {message}", flush=True)

    say(f"collecting {collect_cfg.episodes} episodes of {collect_cfg.world}")
    t = time.time()
    collect(collect_cfg.world, collect_cfg.episodes, out / "data", episode_length=collect_cfg.episode_length,
            size=collect_cfg.size, seed=collect_cfg.seed, policy=collect_cfg.policy,
            episodes_per_shard=collect_cfg.episodes_per_shard, progress=progress)
    timings["collect_s"] = time.time() - t

    say(f"training a world model for {train_cfg.steps} steps")
    t = time.time()
    fit(out / "data", out / "run", recipe.model, train_cfg, progress=progress)
    timings["train_s"] = time.time() - t
    model, run_config = load_model(out / "run", recipe.eval.device)

    evaluations: dict[str, Any] = {}
    for protocol, n in (recipe.demo_episodes or {}).items():
        n = eval_episodes or n
        say(f"evaluating {protocol} on {n} episodes (the benchmark runs the protocol in full)")
        t = time.time()
        evaluations[protocol] = evaluate(model, run_config, protocol, recipe.eval, episodes=n,
                                         out_dir=out / "eval", progress=progress)
        timings[f"eval_{protocol}_s"] = time.time() - t

    say("planning one episode across the door for the GIF")
    episode = plan_episode(model, run_config, recipe.eval, seed=0, budget=200, gif=out / "episode.gif")
    plot_training(out / "run", out / "loss_curves.png")
    timings["total_s"] = time.time() - began
    results = {"preset": preset, "world": run_config.world, "timings": timings, "evaluations": evaluations,
               "gif_episode": {k: v for k, v in episode.items() if k != "frames"},
               "machine": {"cpus": torch.get_num_threads(), "torch": torch.__version__,
                           "python": platform.python_version()}}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    _write_index(out, results)
    say("done")
    return out


def _write_index(out: Path, results: dict[str, Any]) -> None:
    rows = []
    for name, s in results["evaluations"].items():
        lo, hi = s["wilson95"]
        rnd = s.get("random", {})
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{s['successes']}/{s['episodes']}</td>"
                    f"<td>{100 * s['success_rate']:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}]</td>"
                    f"<td>{100 * rnd.get('success_rate', float('nan')):.0f}%</td>"
                    f"<td>{s['median_plan_s']:.4f}</td></tr>")
    timing = ", ".join(f"{k[:-2]} {v:.0f}s" for k, v in results["timings"].items())
    episode = results["gif_episode"]
    gif_outcome = (f"the agent reached it in {episode['steps']} steps" if episode["success"] else
                   f"the agent did not reach it in {episode['steps']} steps "
                   f"(closest approach {episode['min_distance']:.2f} of the arena width)")
    page = f"""<!doctype html><meta charset="utf-8"><title>openami demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em}}</style>
<h1>openami demo: {html.escape(results['world'])}</h1>
<p>Time: {timing}.</p>
<h2>Planning to goal images</h2>
<table border=1 cellspacing=0><tr><th>protocol</th><th>reached</th><th>success [Wilson 95%]</th>
<th>random actions</th><th>median s / plan</th></tr>{''.join(rows)}</table>
<p>The demo evaluates fewer episodes than each protocol defines; <code>ami eval</code> runs them in full.</p>
<h2>One planned episode (observation | goal)</h2>
<p>A goal in the other room (seed 0, not chosen for success): {gif_outcome}.</p>
<img src="episode.gif" width="520">
<h2>Training</h2><img src="loss_curves.png" width="100%">
<p>Numbers: <a href="results.json">results.json</a>; per-episode records in <code>eval/</code>.</p>
"""
    (out / "index.html").write_text(page)
