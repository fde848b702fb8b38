"""What every benchmark JSON records, so anyone can re-run and compare."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent  # the repository, wherever the script is started from


def git_commit() -> str:
    """HEAD's hash (with '+dirty' for uncommitted changes), or 'uncommitted' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              timeout=10, cwd=ROOT).stdout.strip()
        # The results files are rewritten by the benchmarks themselves, so they do not count.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results"], capture_output=True, text=True, timeout=10,
                               cwd=ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "uncommitted"
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The processor's name (Linux's /proc/cpuinfo, else what Python knows): timings differ by more than core count."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(settings: dict[str, Any]) -> dict[str, Any]:
    return {"git_commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            # Which bf16 units the CPU has decides what bf16 training gains (1.05x to 1.5x across hosts; BENCHMARKS.md).
            "cpu_bf16_units": [unit for unit in ("avx512_bf16", "amx_bf16") if torch.cpu.get_capabilities().get(unit)],
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "settings": settings}


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, row in enumerate([header, *rows]):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def run_sections(names: list[str], sections: dict[str, Callable[[], dict[str, Any]]],
                 settings: Callable[[str], dict[str, Any]], out: Path) -> dict[str, Any]:
    """Run the named sections into ``out`` (its other sections' figures are kept), rewriting it after each.

    Each section is stamped with the provenance taken when it starts: the commit and date of the
    code that runs, not of when it ends.
    """
    results = json.loads(out.read_text()) if out.is_file() else {}
    for name in names:
        print(f"== {name}", flush=True)
        started = provenance(settings(name))
        results[name] = {**started, **sections[name]()}
        write_json(out, results)
    return results
