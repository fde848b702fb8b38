"""Every subcommand once, in a subprocess, with tiny budgets (as a user would run them)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from openami.cli.main import COMMANDS
from openami.data import open_dataset
from openami.training import load_model

TINY_PRESET = {
    "collect": {"world": "tworoom", "episodes": 6, "episode_length": 30, "size": 32, "episodes_per_shard": 4},
    "model": {"cnn_channels": [8, 16], "cnn_stem": 2, "latent_dim": 16, "predictor_width": 32, "predictor_depth": 1},
    "train": {"steps": 4, "batch_size": 8, "future": 2, "frameskip": 2, "log_every": 2, "checkpoint_every": 2},
    "eval": {"planner": "cem", "objective": "sum",
             "search": {"horizon": 3, "num_samples": 32, "iterations": 2, "action_dim": 1}},
    "demo_episodes": {"tworoom-offset25": 2, "tworoom-cross": 1},
    "understanding": {"probe_frames": 60, "rollout_horizon": 2, "decoder_steps": 2},
}
TINY_PHYSICS = {
    "collect": {"world": "physics", "episodes": 4, "episode_length": 24, "size": 32},
    "model": {"cnn_channels": [8, 16], "cnn_stem": 2, "latent_dim": 16, "history": 2, "predictor_width": 32,
              "predictor_depth": 1},
    "train": {"steps": 3, "batch_size": 8, "future": 2, "frameskip": 1, "checkpoint_every": 3},
    "understanding": {"probe_frames": 40, "surprise": True, "surprise_clips": 2, "rollout_horizon": 2,
                      "decoder_steps": 2},
}

TINY_PUSHT = {
    "collect": {"world": "pusht", "episodes": 4, "episode_length": 40, "size": 32,
                "policy": {"name": "pusht"}},
    "model": {"cnn_channels": [8, 16], "cnn_stem": 2, "latent_dim": 16, "predictor_width": 32, "predictor_depth": 1},
    "train": {"steps": 3, "batch_size": 8, "future": 2, "frameskip": 5, "checkpoint_every": 3},
    "eval": {"search": {"horizon": 2, "num_samples": 16, "iterations": 1, "action_dim": 2}},
    "demo_episodes": {"pusht-offset25": 2},
    "understanding": {"probe_frames": 60, "rollout_horizon": 2, "decoder": False},
}


def ami(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openami", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    (path / "tiny.yaml").write_text(yaml.safe_dump(TINY_PRESET))
    (path / "physics.yaml").write_text(yaml.safe_dump(TINY_PHYSICS))
    (path / "pusht.yaml").write_text(yaml.safe_dump(TINY_PUSHT))
    return path


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command, tmp_path):
    result = ami(*([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: ami" in result.stdout


def test_collect_train_eval_plan(workdir):
    r = ami("collect", "--preset", "tiny.yaml", "--out", "data", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads((workdir / "data" / "manifest.json").read_text())["episodes"] == 6

    r = ami("train", "--preset", "tiny.yaml", "--data", "data", "--out", "run", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    r = ami("train", "--out", "run", "--resume", "--steps", "6", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert (workdir / "run" / "last").read_text().strip() == "step-0000006"

    r = ami("eval", "--preset", "tiny.yaml", "--run", "run", "--protocol", "tworoom-offset25", "--episodes", "2",
            "--out", "eval", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "only 2 of the protocol's 100 episodes" in r.stdout
    summary = json.loads((workdir / "eval" / "tworoom-offset25.summary.json").read_text())
    assert summary["episodes"] == 2 and 0 <= summary["wilson95"][0] <= summary["wilson95"][1] <= 1
    lines = (workdir / "eval" / "tworoom-offset25.episodes.jsonl").read_text().splitlines()
    assert {json.loads(line)["policy"] for line in lines} == {"agent", "random"} and len(lines) == 4

    r = ami("plan", "--preset", "tiny.yaml", "--run", "run", "--budget", "10", "--out", "ep.gif", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert (workdir / "ep.gif").read_bytes()[:6] == b"GIF89a"

    r = ami("eval", "probe", "--run", "run", "--frames", "60", "--out", "understand", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "agent.position" in r.stdout
    probe = json.loads((workdir / "understand" / "probe.json").read_text())
    assert set(probe["quantities"]["agent.position"]) == {"dynamic", "trained", "random"}
    r = ami("eval", "rollout", "--run", "run", "--horizon", "2", "--decoder", "--decoder-steps", "2", "--quiet",
            cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert (workdir / "run" / "eval" / "imagination.gif").read_bytes()[:6] == b"GIF89a"
    assert (workdir / "run" / "decoder.safetensors").is_file()
    r = ami("eval", "surprise", "--run", "run", cwd=workdir)
    assert r.returncode == 2 and "physics world only" in r.stderr


def test_train_with_two_processes_matches_one(workdir):
    """`ami train --nproc 2` (torchrun, gloo) trains the weights one process trains, and writes once."""
    if not (workdir / "data" / "manifest.json").exists():
        assert ami("collect", "--preset", "tiny.yaml", "--out", "data", "--quiet", cwd=workdir).returncode == 0
    r = ami("train", "--nproc", "2", "--preset", "tiny.yaml", "--data", "data", "--out", "ddp", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("trained 4 steps") == 1  # rank 0 reports for both
    r = ami("train", "--preset", "tiny.yaml", "--data", "data", "--out", "single", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    # Adam turns rounding noise in near-zero gradients (the bias before BatchNorm has none at all) into
    # full-size steps, so compare what the runs compute, not raw parameters: the same losses, the same embeddings.
    records = {run: [json.loads(line) for line in (workdir / run / "metrics.jsonl").read_text().splitlines()]
               for run in ("ddp", "single")}
    for ddp_record, single_record in zip(records["ddp"], records["single"], strict=True):
        for key in ("loss", "pred_loss", "reg_loss", "val_pred_loss"):
            if key in single_record:
                assert ddp_record[key] == pytest.approx(single_record[key], abs=1e-5), key
    frames = torch.from_numpy(open_dataset(workdir / "data").pixels[:64]).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        z_ddp, z_single = (load_model(workdir / run, "cpu")[0].encode(frames) for run in ("ddp", "single"))
    torch.testing.assert_close(z_ddp, z_single, atol=2e-4, rtol=0)
    steps = [json.loads(line)["step"] for line in (workdir / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 2, 4, 4]  # one training and one validation record per log step: rank 0 alone writes

    r = ami("train", "--out", "ddp", "--resume", "--steps", "6", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "was trained by 2 process(es) and resumes with 1" in r.stderr


def test_physics_demo_reports_probes_surprise_and_rollout(workdir):
    r = ami("demo", "--preset", "physics.yaml", "--out", "physics-demo", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    out = workdir / "physics-demo"
    found = json.loads((out / "results.json").read_text())["understanding"]
    assert "red.position" in found["probe"]["quantities"]
    assert found["probe"]["quantities"]["red.velocity"]["dynamic"] is True
    assert set(found["surprise"]["violations"]) >= {"teleport", "vanish", "pass_through", "velocity_jump"}
    assert all(0 <= v["auroc"] <= 1 and 0 <= v["copy_last"]["auroc"] <= 1
               for v in found["surprise"]["violations"].values())
    for name in ("probe.png", "surprise.png", "rollout.png"):
        assert (out / "understanding" / name).read_bytes()[:4] == b"\x89PNG"
    assert not (out / "episode.gif").exists()  # no planning protocol in this world
    assert "understanding/surprise.png" in (out / "index.html").read_text()
    assert "copy-last AUROC" in (out / "index.html").read_text()
    r = ami("eval", "surprise", "--run", str(out / "run"), "--clips", "2", "--violations", "teleport,vanish",
            "--no-baseline", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "teleport" in r.stdout and "pass_through" not in r.stdout
    assert "copy_last" not in json.loads((out / "run" / "eval" / "surprise.json").read_text())["violations"]["teleport"]
    r = ami("eval", "surprise", "--run", str(out / "run"), "--clips", "2", "--violations", "teleprt", cwd=workdir)
    assert r.returncode == 2 and "teleport" in r.stderr


def test_pusht_demo_and_shifted_evaluation(workdir):
    r = ami("demo", "--preset", "pusht.yaml", "--out", "pusht-demo", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    found = json.loads((workdir / "pusht-demo" / "results.json").read_text())
    assert found["evaluations"]["pusht-offset25"]["episodes"] == 2
    assert set(found["understanding"]["probe"]["quantities"]) == {"pusher.position", "block.position", "block.angle"}
    run = str(workdir / "pusht-demo" / "run")
    r = ami("eval", "plan", "--run", run, "--protocol", "pusht-offset25", "--episodes", "2", "--preset", "pusht.yaml",
            "--vary", "block_colour=200,60,60", "--vary", "block_scale=1.2", "--out", "shifted", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "world shifted: block_colour=[200.0, 60.0, 60.0]" in r.stdout and "block_scale=1.2" in r.stdout
    summary = json.loads((workdir / "shifted" / "pusht-offset25.block_scale-1.2.summary.json").read_text())
    assert summary["vary"] == {"block_scale": 1.2} and summary["episodes"] == 2
    r = ami("eval", "plan", "--run", run, "--protocol", "pusht-offset25", "--vary", "colour=red", cwd=workdir)
    assert r.returncode == 2 and "block_colour" in r.stderr and "Traceback" not in r.stderr


def test_collect_world_takes_its_own_presets_policy(workdir):
    # Random pushes rarely touch PushT's block: `--world pusht` alone must use the pusht preset's scripted pushes.
    r = ami("collect", "--world", "pusht", "--episodes", "1", "--episode-length", "6", "--size", "32",
            "--out", "pushes", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert open_dataset(workdir / "pushes").manifest["policy"]["name"] == "pusht"
    r = ami("collect", "--world", "openami/PushT-v0", "--episodes", "1", "--episode-length", "6", "--size", "32",
            "--out", "pushes-by-id", "--quiet", cwd=workdir)  # the Gymnasium id names the same world
    assert r.returncode == 0, r.stderr
    assert open_dataset(workdir / "pushes-by-id").manifest["policy"]["name"] == "pusht"


def test_user_mistakes_get_one_line_errors(workdir):
    r = ami("train", "--data", "missing", "--out", "run2", cwd=workdir)
    assert r.returncode == 2 and "no manifest.json" in r.stderr and "Traceback" not in r.stderr
    r = ami("collect", "--world", "tworom", "--episodes", "1", "--out", "x", cwd=workdir)
    assert r.returncode == 2 and "tworoom" in r.stderr and "Traceback" not in r.stderr
    r = ami("eval", "--run", "nowhere", cwd=workdir)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = ami("eval", "probe", "--run", "nowhere", "--threads", "0", cwd=workdir)
    assert r.returncode == 2 and "--threads must be at least 1, got 0" in r.stderr
    (workdir / "typo.yaml").write_text("train: {stepz: 3}\n")
    r = ami("collect", "--preset", "typo.yaml", "--out", "y", cwd=workdir)
    assert r.returncode == 2 and "did you mean 'steps'" in r.stderr


def test_threads_reach_torch_and_every_command(tmp_path, monkeypatch):
    from openami.cli.main import build_parser, main

    parser = build_parser()
    for argv in (["collect"], ["train"], ["plan"], ["eval", "surprise"], ["eval", "plan"], ["memory", "add"],
                 ["memory", "graph"], ["demo"]):
        assert "--threads" in " ".join(leaf_help(parser, argv)), argv
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    try:
        assert main(["memory", "stats", "--memory", str(tmp_path / "none"), "--threads", "1"]) == 2  # no memory
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def leaf_help(parser, argv: list[str]) -> list[str]:
    """The option strings of the parser that `argv` (a command path) leads to."""
    for name in argv:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return [option for action in parser._actions for option in action.option_strings]


def test_demo_end_to_end(workdir):
    r = ami("demo", "--preset", "tiny.yaml", "--out", "demo", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    out = workdir / "demo"
    results = json.loads((out / "results.json").read_text())
    assert set(results["evaluations"]) == {"tworoom-offset25", "tworoom-cross"}
    assert (out / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "episode.gif").read_bytes()[:6] == b"GIF89a"
    assert "episode.gif" in (out / "index.html").read_text()
    assert (out / "understanding" / "probe.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "understanding" / "imagination.gif").read_bytes()[:6] == b"GIF89a"
    r = ami("demo", "--preset", "tiny.yaml", "--out", "demo", "--quiet", cwd=workdir)
    assert r.returncode == 2 and "already holds a demo" in r.stderr


def test_memory_add_query_stats_prune(tiny_run, tiny_data, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from openami.cli.main import main
    from openami.data import open_dataset

    mem = str(tmp_path / "mem")
    r = ami("memory", "add", "--run", str(tiny_run), "--data", str(tiny_data), "--memory", mem, "--every", "2",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "added 60 entries from 6 episodes (stored as episodes 0..5)" in r.stdout  # 6 episodes of 20, every 2nd
    frame = open_dataset(tiny_data).pixels[4]  # episode 0, step 4: remembered as entry 2
    Image.fromarray(frame).save(tmp_path / "frame.png")
    r = ami("memory", "query", "--memory", mem, "--image", "frame.png", "--run", str(tiny_run), "-k", "3",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[1].split()
    assert first[2] == "0.0000" and first[4] == "4", r.stdout  # the very frame, at distance 0

    # The rest in-process: the same entry point, without paying the imports again.
    monkeypatch.chdir(tmp_path)
    assert main(["memory", "add", "--run", str(tiny_run), "--data", str(tiny_data), "--memory", mem, "--every", "5",
                 "--quiet"]) == 0
    assert "episodes 6..11" in capsys.readouterr().out  # a second dataset never shares episode numbers
    assert main(["memory", "query", "--memory", mem, "--entry", "2", "-k", "4"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert main(["memory", "query", "--memory", mem, "--image", "frame.png"]) == 2
    assert "--image needs --run" in capsys.readouterr().err
    assert main(["memory", "stats", "--memory", "nowhere"]) == 2
    assert "no memory store at nowhere" in capsys.readouterr().err

    r = ami("memory", "prune", "--memory", mem, "--keep-every", "2", cwd=tmp_path)
    assert r.returncode == 0 and "removed 42 of 84 entries; 42 remain" in r.stdout, r.stderr
    r = ami("memory", "stats", "--memory", mem, "--json", cwd=tmp_path)
    stats = json.loads(r.stdout)
    assert stats["entries"] == 42 and stats["episodes"] == 12 and stats["thumbnail_shape"] == [32, 32, 3]
    assert stats["info"]["run"] == str(Path(tiny_run).resolve())
    assert main(["memory", "stats", "--memory", mem]) == 0 and "episodes" in capsys.readouterr().out

    from openami.memory import MemoryStore

    MemoryStore.create(tmp_path / "other", 16, thumbnail_shape=(32, 32), state_dim=2,
                       info={"run": "elsewhere", "model_sha256": "0" * 64}).close()
    assert main(["memory", "add", "--run", str(tiny_run), "--data", str(tiny_data), "--memory", "other"]) == 2
    assert "holds embeddings of another model (run elsewhere" in capsys.readouterr().err


def test_memory_graph_and_far_planning(tiny_run, tiny_data, tmp_path, capsys, monkeypatch):
    from openami.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(
        {**TINY_PRESET, "graph": {"reach_samples": 8, "reach_iterations": 1}}))
    assert main(["memory", "add", "--run", str(tiny_run), "--data", str(tiny_data), "--memory", "mem", "--every", "2",
                 "--quiet"]) == 0
    assert main(["plan", "--run", str(tiny_run), "--far", "--memory", "mem", "--start", "0.2,0.5",
                 "--goal", "0.8,0.5"]) == 2
    assert "ami memory graph" in capsys.readouterr().err  # no graph yet: the error says how to make one
    assert main(["memory", "graph", "--run", str(tiny_run), "--memory", "mem", "--preset", "tiny.yaml",
                 "--quiet"]) == 0
    assert "memory graph of 60 entries" in capsys.readouterr().out
    assert main(["plan", "--run", str(tiny_run), "--far", "--memory", "mem", "--start", "0.2,0.5", "--goal", "0.8,0.5",
                 "--budget", "6", "--out", "far.gif", "--preset", "tiny.yaml", "--remember", "2"]) == 0
    out = capsys.readouterr().out
    assert "far goal" in out and "remembered 4 new entries" in out  # 7 frames, every 2nd
    assert (tmp_path / "far.gif").read_bytes()[:6] == b"GIF89a"
    assert (tmp_path / "far-path.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["eval", "plan", "--run", str(tiny_run), "--protocol", "tworoom-cross", "--memory", "mem",
                 "--episodes", "1", "--preset", "tiny.yaml", "--out", "eval", "--quiet"]) == 0
    summary = json.loads((tmp_path / "eval" / "tworoom-cross.summary.json").read_text())
    assert summary["episodes"] == 1 and {"flat", "random"} <= set(summary)
    assert main(["memory", "prune", "--memory", "mem", "--keep-every", "2"]) == 0
    assert not (tmp_path / "mem" / "graph.npz").exists()  # a pruned memory's graph is stale
