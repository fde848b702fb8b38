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
from openami.evaluation.probe import ProbeConfig
from openami.evaluation.surprise import SurpriseConfig
from openami.evaluation.understanding import UnderstandingConfig, run_probe, run_rollout, run_surprise
from openami.models.decoder import DecoderConfig
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

    episode = None
    if recipe.demo_episodes:  # a world with planning protocols: show one planned episode
        say("planning one episode toward a goal for the GIF")
        episode = plan_episode(model, run_config, recipe.eval, seed=0, budget=200, gif=out / "episode.gif")
    understanding = _understand(model, out, run_config, recipe.understanding, say, timings, progress)
    plot_training(out / "run", out / "loss_curves.png")
    timings["total_s"] = time.time() - began
    results = {"preset": preset, "world": run_config.world, "timings": timings, "evaluations": evaluations,
               "gif_episode": {k: v for k, v in episode.items() if k != "frames"} if episode else None,
               "understanding": understanding,
               "machine": {"cpus": torch.get_num_threads(), "torch": torch.__version__,
                           "python": platform.python_version()}}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    _write_index(out, results)
    say("done")
    return out


def _understand(model, out: Path, run_config, config: UnderstandingConfig, say, timings: dict[str, float],
                progress: bool) -> dict[str, Any]:
    """The preset's probe, surprise and open-loop evaluations, written to out/understanding/."""
    folder = out / "understanding"
    found: dict[str, Any] = {}
    if config.probe:
        say(f"probing physical quantities from frozen embeddings ({config.probe_frames} frames)")
        t = time.time()
        found["probe"] = run_probe(model, run_config, folder, config=ProbeConfig(max_train_frames=config.probe_frames))
        timings["probe_s"] = time.time() - t
    if config.surprise:
        say(f"scoring surprise on {config.surprise_clips} impossible/possible pairs per violation")
        t = time.time()
        found["surprise"] = run_surprise(model, run_config, folder,
                                         SurpriseConfig(clips_per_violation=config.surprise_clips), progress=progress)
        timings["surprise_s"] = time.time() - t
    if config.rollout_horizon:
        say(f"open-loop prediction over {config.rollout_horizon} steps" +
            (", and a decoder to draw it" if config.decoder else ""))
        t = time.time()
        found["rollout"] = run_rollout(model, out / "run", run_config, folder, horizon=config.rollout_horizon,
                                       decoder=config.decoder, decoder_config=DecoderConfig(steps=config.decoder_steps),
                                       progress=progress)
        timings["rollout_s"] = time.time() - t
    return found


def _understanding_html(found: dict[str, Any]) -> str:
    parts = []
    if "probe" in found:
        rows = "".join(
            f"<tr><td>{html.escape(name)}{' (2 frames)' if q['dynamic'] else ''}</td>" + "".join(
                f"<td>{q.get(enc, {}).get(kind, {}).get('r2', float('nan')):.3f}</td>"
                for enc in ("trained", "random") for kind in ("linear", "mlp")) + "</tr>"
            for name, q in found["probe"]["quantities"].items())
        parts.append("<h2>Probes: what the latent state holds</h2><p>R² on held-out episodes of probes fitted to "
                     "frozen embeddings, beside the same probes on a randomly initialised encoder.</p>"
                     "<table border=1 cellspacing=0><tr><th>quantity</th><th>linear</th><th>MLP</th>"
                     f"<th>random linear</th><th>random MLP</th></tr>{rows}</table>"
                     '<img src="understanding/probe.png" width="80%">')
    if "surprise" in found:
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{r['auroc']:.3f}</td><td>{r['paired_accuracy']:.2f}</td>"
                       f"<td>{r['copy_last']['auroc']:.3f}</td><td>{r['pairs']}</td></tr>"
                       for n, r in found["surprise"]["violations"].items())
        parts.append("<h2>Surprise at impossible events</h2><p>Peak latent prediction error of impossible clips "
                     "against their possible twins (AUROC 0.5 = chance), beside the same score with a prediction "
                     "that nothing changes (copy-last): what detecting change alone flags.</p>"
                     "<table border=1 cellspacing=0><tr><th>violation</th><th>AUROC</th><th>paired accuracy</th>"
                     f"<th>copy-last AUROC</th><th>pairs</th></tr>{rows}</table>"
                     '<img src="understanding/surprise.png" width="100%">')
    if "rollout" in found:
        r = found["rollout"]
        at = min(5, len(r["horizon"])) - 1
        parts.append(f"<h2>Open-loop prediction</h2><p>At {r['horizon'][at]} steps ahead the model's latent error is "
                     f"{r['ratio'][at]:.1f}&times; smaller than copying the last embedding.</p>"
                     '<img src="understanding/rollout.png" width="50%">')
        if "decoder" in r:
            parts.append("<p>Imagined futures, decoded by a decoder trained on frozen embeddings (rows: examples; "
                         "columns: real, decoded real, decoded imagination):</p>"
                         '<img src="understanding/imagination.gif" width="40%">')
    return "\n".join(parts)


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
    planning = ""
    if results["evaluations"]:
        planning = f"""<h2>Planning to goal images</h2>
<table border=1 cellspacing=0><tr><th>protocol</th><th>reached</th><th>success [Wilson 95%]</th>
<th>random actions</th><th>median s / plan</th></tr>{''.join(rows)}</table>
<p>The demo evaluates fewer episodes than each protocol defines; <code>ami eval</code> runs them in full.</p>"""
    if episode:
        outcome = (f"the agent reached it in {episode['steps']} steps" if episode["success"] else
                   f"the agent did not reach it in {episode['steps']} steps "
                   f"(closest approach {episode['min_distance']:.2f} of the arena width)")
        planning += f"""<h2>One planned episode (observation | goal)</h2>
<p>A goal drawn with seed 0, not chosen for success: {outcome}.</p>
<img src="episode.gif" width="520">"""
    page = f"""<!doctype html><meta charset="utf-8"><title>openami demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em}}</style>
<h1>openami demo: {html.escape(results['world'])}</h1>
<p>Time: {timing}.</p>
{planning}
{_understanding_html(results["understanding"])}
<h2>Training</h2><img src="loss_curves.png" width="100%">
<p>Numbers: <a href="results.json">results.json</a>; per-episode records in <code>eval/</code>.</p>
"""
    (out / "index.html").write_text(page)
