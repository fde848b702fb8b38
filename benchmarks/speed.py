"""Speed: training samples/s, seconds per plan call and achieved GFLOP/s against this machine's matmul peak.

python benchmarks/speed.py                                 # every section, about 5 minutes on 2 CPU cores
python benchmarks/speed.py --sections peak,plan-default    # some sections; the others' figures are kept
python benchmarks/speed.py --device cuda --out benchmarks/results/speed-gpu.json   # on a GPU

Two models side by side: the `tworoom` preset's (the default), and a LeWorldModel-sized one written
in openami's own code (a ViT-tiny/14 encoder at 224 px, a 6-block predictor of 16 heads of 64).
FLOPs are counted by torch's FlopCounterMode (matrix products, convolutions, attention) over one
timed call, so "% of peak" is the share of the measured matmul peak that the model's own work got.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from provenance import ROOT, print_table, run_sections
from torch.utils.flop_counter import FlopCounterMode

from openami.agent import CompiledRollouts, HeldActions
from openami.models import ModelConfig, WorldModel
from openami.models.predictors import Predictor
from openami.planning import make_objective, make_planner
from openami.presets import load_preset
from openami.training.trainer import JEPAObjective

PRESET = load_preset("tworoom")
FRAMESKIP = PRESET.train.frameskip
WORLD_ACTION_DIM = 2
MODELS = {
    "default": PRESET.model.replace(action_dim=WORLD_ACTION_DIM * FRAMESKIP),
    # LeWorldModel's sizes (Maes et al. 2026): ViT-tiny, patch 14, 224 px; 6 predictor blocks, 16 heads x 64;
    # 192-D latent, 3 frames of history. Its own code is not used: these are openami's modules at that size.
    "lewm": ModelConfig(image_size=224, encoder="vit", vit_patch=14, vit_width=192, vit_depth=12, vit_heads=3,
                        latent_dim=192, history=3, predictor_width=1024, predictor_depth=6, predictor_heads=16,
                        action_dim=WORLD_ACTION_DIM * FRAMESKIP),
}
PHYSICS = load_preset("physics")
MODELS["physics"] = PHYSICS.model.replace(action_dim=WORLD_ACTION_DIM * PHYSICS.train.frameskip)
TRAINING = {"default": PRESET.train, "lewm": PRESET.train, "physics": PHYSICS.train}
TRAIN_BATCH = {"default": PRESET.train.batch_size, "lewm": 16, "physics": PHYSICS.train.batch_size}
TIMED = {"default": 10, "lewm": 2, "physics": 4}  # timed training steps / plan calls (after warm-up)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """Best GFLOP/s of an n x n matrix product on `device`, over a few repeats."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    _sync(device)
    start = time.perf_counter()
    a @ b  # warm-up, and a probe: CPUs without bf16 units run bf16 products 100x slower
    _sync(device)
    best = time.perf_counter() - start
    slow = best > 1.0
    for _ in range(1 if slow else 8):
        _sync(device)
        start = time.perf_counter()
        for _ in range(1 if slow else 4):
            a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - start) / (1 if slow else 4))
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def training_speed(name: str, device: torch.device, precision: str, peak: float) -> dict[str, Any]:
    """Windows per second of full training steps (forward, backward, AdamW) on random pixels."""
    config = MODELS[name]
    train = TRAINING[name].replace(precision=precision)
    batch_size = TRAIN_BATCH[name]
    length = config.history + train.future
    torch.manual_seed(0)
    net = WorldModel(config).to(device)
    objective = JEPAObjective(net, train)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    batch = {"pixels": torch.randint(0, 256, (batch_size, length, 3, config.image_size, config.image_size),
                                     generator=g, dtype=torch.uint8).to(device),
             "actions": torch.randn(batch_size, length - 1, config.action_dim, generator=g).to(device)}
    if train.episode_contrast_weight > 0:  # the physics preset also encodes one more frame of each episode
        batch["episode_frame"] = torch.randint(0, 256, (batch_size, 3, config.image_size, config.image_size),
                                               generator=g, dtype=torch.uint8).to(device)
    reg_generator = torch.Generator(device=device).manual_seed(1)

    def step() -> None:
        loss, _ = objective(batch, reg_generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    flops = _flops(step)  # also the warm-up
    step()
    times = []
    for _ in range(TIMED[name]):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"model": name, "parameters": sum(p.numel() for p in net.parameters()), "batch_windows": batch_size,
            "frames_per_window": length, "precision": precision, "seconds_per_step": seconds,
            "windows_per_s": batch_size / seconds, "frames_per_s": batch_size * length / seconds,
            "gflop_per_step": flops / 1e9, "gflop_per_s": flops / seconds / 1e9,
            "percent_of_peak": 100 * flops / seconds / 1e9 / peak}


def precision_speed(names: tuple[str, ...], device: torch.device, peak: float) -> dict[str, Any]:
    """Training steps in fp32 and bf16 autocast side by side, per model (the order alternates, against drift)."""
    runs: dict[str, Any] = {}
    for name in names:
        first = training_speed(name, device, "fp32", peak)
        bf16 = training_speed(name, device, "bf16", peak)
        second = training_speed(name, device, "fp32", peak)
        fp32 = min((first, second), key=lambda r: r["seconds_per_step"])
        runs[name] = {"fp32": fp32, "bf16": bf16, "speedup": fp32["seconds_per_step"] / bf16["seconds_per_step"]}
    return {"runs": runs}


def _training_step_seconds(name: str, threads: int, precision: str) -> float:
    """A training step's median seconds in a fresh process limited to `threads` torch threads."""
    torch.set_num_threads(threads)
    return training_speed(name, torch.device("cpu"), precision, peak=float("nan"))["seconds_per_step"]


def shared_machine_speed(name: str, precision: str) -> dict[str, Any]:
    """Training steps of one job alone, then of two jobs at once: each with every core, or with half of them.

    What `--threads` is for: two jobs that each take all the cores contend for them (torch's threads spin
    while they wait), so the pair can end up slower than one job after the other."""
    cores = os.cpu_count() or 1
    half = max(1, cores // 2)
    context = multiprocessing.get_context("spawn")  # a fresh torch per job, as two `ami` commands would have

    def jobs(threads: list[int]) -> list[float]:
        with concurrent.futures.ProcessPoolExecutor(len(threads), mp_context=context) as pool:
            return list(pool.map(_training_step_seconds, [name] * len(threads), threads, [precision] * len(threads)))

    alone = jobs([cores])[0]
    both_all, both_half = jobs([cores, cores]), jobs([half, half])
    return {"model": name, "precision": precision, "cores": cores, "seconds_per_step_alone": alone,
            "two_jobs_all_threads": both_all, "two_jobs_half_threads": both_half, "threads_each_half": half,
            "slowdown_all_threads": statistics.mean(both_all) / alone,
            "slowdown_half_threads": statistics.mean(both_half) / alone}


def planning_speed(name: str, device: torch.device, search: dict[str, int], peak: float,
                   calls: int | None = None, compile_rollouts: bool = False) -> dict[str, Any]:
    """Median seconds of one CEM plan call (held actions, as the agent plans) and its GFLOP/s."""
    config = MODELS[name]
    torch.manual_seed(0)
    net = WorldModel(config).to(device).eval()
    planned = HeldActions(net, FRAMESKIP)
    compile_s = None
    planner = make_planner(PRESET.eval.planner, PRESET.eval.search.replace(action_dim=WORLD_ACTION_DIM, **search))
    objective = make_objective(PRESET.eval.objective)
    g = torch.Generator().manual_seed(0)
    z_hist = torch.randn(1, config.history, config.latent_dim, generator=g).to(device)
    z_goal = torch.randn(1, config.latent_dim, generator=g).to(device)
    flops = _flops(lambda: planner.plan(planned, objective, z_hist, z_goal))  # also the warm-up
    if compile_rollouts:  # the same work, through torch.compile; the first call compiles
        planned = CompiledRollouts(planned)
        compile_s = planner.plan(planned, objective, z_hist, z_goal).seconds
    planner.plan(planned, objective, z_hist, z_goal)
    seconds = statistics.median(planner.plan(planned, objective, z_hist, z_goal).seconds
                                for _ in range(calls or 5 * TIMED[name]))
    return {"model": name, "search": search, "compiled": compile_rollouts, "compile_s": compile_s,
            "seconds_per_plan": seconds, "gflop_per_plan": flops / 1e9,
            "gflop_per_s": flops / seconds / 1e9, "percent_of_peak": 100 * flops / seconds / 1e9 / peak}


def rollout_paths(name: str, samples: int, horizon: int, calls: int = 400) -> dict[str, Any]:
    """Median ms of one no-gradient rollout, the predictor's inference path against its step loop.

    The two alternate call by call, so that the host's drift hits both alike.
    """
    config = MODELS[name]
    torch.manual_seed(0)
    net = WorldModel(config).eval()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(samples, config.history, config.latent_dim, generator=g)
    actions = torch.randn(samples, horizon, config.action_dim, generator=g)
    paths = {"inference_path": lambda: net.predictor.rollout(z, actions),
             "step_loop": lambda: Predictor.rollout(net.predictor, z, actions)}
    times: dict[str, list[float]] = {key: [] for key in paths}
    with torch.inference_mode():
        torch.testing.assert_close(paths["inference_path"](), paths["step_loop"]())
        for i in range(calls + 20):
            for key, fn in paths.items():
                start = time.perf_counter()
                fn()
                if i >= 20:  # the first calls warm up
                    times[key].append(time.perf_counter() - start)
    ms = {key: 1e3 * statistics.median(t) for key, t in times.items()}
    return {"model": name, "samples": samples, "horizon": horizon, "calls": calls, **{f"{k}_ms": v for k, v in
            ms.items()}, "ratio": ms["inference_path"] / ms["step_loop"]}


def collection_speed(episodes: int, repeats: int = 3) -> dict[str, Any]:
    """Episodes per second of `collect` on the physics world with 1 and with 2 worker processes.

    Shards of 50 episodes (the default). Runs are interleaved so that other load on the machine
    hits both alike, and each keeps its best run, the one least disturbed.
    """
    from openami.data.collect import collect

    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for workers in (1, 2):
                start = time.perf_counter()
                collect("physics", episodes, Path(tmp) / f"w{workers}-{i}", workers=workers, progress=False)
                rates[workers].append(episodes / (time.perf_counter() - start))
    one, two = max(rates[1]), max(rates[2])
    return {"world": "physics", "episodes": episodes, "episodes_per_shard": 50, "runs": rates,
            "episodes_per_s_1_process": one, "episodes_per_s_2_processes": two, "speedup": two / one}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The small model's plan timings first: after the LeWM-sized sections, this process's small calls
    # were seen to run slower (memory handed back and forth), which would not be the planner's doing.
    parser.add_argument("--sections", default="peak,plan-default,plan-compiled,plan-slow,plan-samples,rollout-paths,"
                                              "train-default,train-precision,train-shared,collect,train-lewm,plan-lewm",
                        help="comma-separated sections to run")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="training autocast")
    parser.add_argument("--collect-episodes", type=int, default=400, help="physics episodes per collection run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    search = {k: getattr(PRESET.eval.search, k) for k in ("horizon", "num_samples", "iterations")}
    slow = {"horizon": 10, "num_samples": 200, "iterations": 3}  # the planner before issue 6's work
    peak = functools.cache(lambda: matmul_peak(device))  # measured once, shared by every section

    sections = {
        "peak": lambda: {"matmul_gflop_per_s_fp32": peak(),
                         "matmul_gflop_per_s_bf16": matmul_peak(device, torch.bfloat16)},
        "train-default": lambda: training_speed("default", device, args.precision, peak()),
        "train-lewm": lambda: training_speed("lewm", device, args.precision, peak()),
        # What train.precision: auto buys where the hardware has bf16 units (AVX512-BF16 here).
        "train-precision": lambda: precision_speed(("default", "physics"), device, peak()),
        # Two trainings on one machine, each with every core or with half of them (`ami ... --threads`).
        "train-shared": lambda: shared_machine_speed("physics", args.precision),
        "plan-default": lambda: planning_speed("default", device, search, peak(), calls=100),
        "plan-compiled": lambda: planning_speed("default", device, search, peak(), calls=100,
                                                compile_rollouts=True),
        "plan-slow": lambda: planning_speed("default", device, slow, peak(), calls=100),
        "plan-lewm": lambda: planning_speed("lewm", device, search, peak()),
        # How the default planner's cost and throughput grow with its sample count (one round, its horizon).
        "plan-samples": lambda: {"runs": [planning_speed("default", device, {**search, "num_samples": n}, peak(),
                                                         calls=100) for n in (64, 128, 256)]},
        "rollout-paths": lambda: rollout_paths("default", search["num_samples"], search["horizon"]),
        "collect": lambda: collection_speed(args.collect_episodes),
    }
    names = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(names) - set(sections))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(sections)}")
    settings = {"device": str(device), "precision": args.precision, "models": {k: v.to_dict() for k, v in
                MODELS.items()}, "train_batch": TRAIN_BATCH, "timed": TIMED, "planner": PRESET.eval.planner,
                "search": search, "frameskip": FRAMESKIP, "collect_episodes": args.collect_episodes}
    results = run_sections(names, sections, lambda name: settings, args.out)
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    if "peak" in results:
        r = results["peak"]
        rows.append(("matmul peak (2048², fp32 / bf16)", f"{r['matmul_gflop_per_s_fp32']:.0f} / "
                     f"{r['matmul_gflop_per_s_bf16']:.0f} GFLOP/s", ""))
    for key in ("train-default", "train-lewm"):
        if key in results:
            r = results[key]
            rows.append((f"training, {r['model']} ({r['parameters'] / 1e6:.1f} M parameters, {r['precision']})",
                         f"{r['windows_per_s']:.1f} windows/s ({r['frames_per_s']:.0f} frames/s)",
                         f"{r['gflop_per_s']:.0f} GFLOP/s, {r['percent_of_peak']:.0f} % of peak"))
    for name, r in results.get("train-precision", {}).get("runs", {}).items():
        rows.append((f"training step, {name}, fp32 / bf16 autocast",
                     f"{r['fp32']['seconds_per_step']:.3f} / {r['bf16']['seconds_per_step']:.3f} s",
                     f"{r['speedup']:.2f}× faster in bf16"))
    if "train-shared" in results:
        r = results["train-shared"]
        rows.append((f"training step, {r['model']}, alone with {r['cores']} threads / two jobs at once with "
                     f"{r['cores']} / {r['threads_each_half']} threads each",
                     f"{r['seconds_per_step_alone']:.2f} / {statistics.mean(r['two_jobs_all_threads']):.2f} / "
                     f"{statistics.mean(r['two_jobs_half_threads']):.2f} s",
                     f"{r['slowdown_all_threads']:.1f}× / {r['slowdown_half_threads']:.1f}× a lone job's step"))
    for key in ("plan-default", "plan-compiled", "plan-slow", "plan-lewm"):
        if key in results:
            r = results[key]
            s = r["search"]
            how = f", torch.compile ({r['compile_s']:.0f} s to compile)" if r.get("compiled") else ""
            rows.append((f"plan call, {r['model']} (H {s['horizon']}, {s['num_samples']} samples, "
                         f"{s['iterations']} iterations{how})", f"{r['seconds_per_plan']:.4f} s",
                         f"{r['gflop_per_s']:.0f} GFLOP/s, {r['percent_of_peak']:.0f} % of peak"))
    if "plan-samples" in results:
        for r in results["plan-samples"]["runs"]:
            rows.append((f"plan call, default, {r['search']['num_samples']} samples (1 round)",
                         f"{r['seconds_per_plan']:.4f} s", f"{r['percent_of_peak']:.0f} % of peak"))
    if "rollout-paths" in results:
        r = results["rollout-paths"]
        rows.append((f"rollout without gradients, {r['samples']} samples × {r['horizon']} steps: inference path "
                     "/ step loop", f"{r['inference_path_ms']:.2f} / {r['step_loop_ms']:.2f} ms",
                     f"{r['ratio']:.2f}× the step loop's time"))
    if "collect" in results:
        r = results["collect"]
        rows.append((f"collection, {r['world']}, {r['episodes']} episodes",
                     f"{r['episodes_per_s_1_process']:.0f} → {r['episodes_per_s_2_processes']:.0f} episodes/s",
                     f"{r['speedup']:.2f}× with 2 processes"))
    print_table(rows, ("figure", "measured", "throughput"))


if __name__ == "__main__":
    main()
