"""Benchmark: `ruta diagnose` over N generated profiles (default 10,000), as a user would run it.

Runs the installed `ruta` command on a JSON-lines file several times and prints the median wall time, the
throughput and the peak memory of the process. Not a test: figures go to the README.

    .venv/bin/python bench/diagnose_bench.py [--profiles 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge import load_knowledge_base  # noqa: E402
from knowledge.models import NEEDS  # noqa: E402

_KB = load_knowledge_base()
COMMUNES = list(_KB.communes)
SECTORS = list(_KB.sectors)


def _maybe(rng: random.Random, value: Any) -> Any:
    """Most answers known; about one in twenty unknown, as after a real conversation."""
    return None if rng.random() < 0.05 else value


def profile(rng: random.Random) -> dict[str, Any]:
    operating = rng.random() < 0.85
    return {
        "commune": _maybe(rng, rng.choice(COMMUNES)),
        "sector": _maybe(rng, rng.choice(SECTORS)),
        "operating": _maybe(rng, operating),
        "months_operating": _maybe(rng, rng.randint(0, 240) if operating else 0),
        "formal": _maybe(rng, rng.random() < 0.4),
        "workers": _maybe(rng, rng.randint(1, 12)),
        "monthly_sales_clp": _maybe(rng, int(rng.lognormvariate(13.5, 1.2)) if operating else 0),
        "premises": _maybe(rng, rng.choice(["none", "home", "separate"])),
        "surplus": _maybe(rng, rng.choice(["none", "sometimes", "regular"])),
        "keeps_records": _maybe(rng, rng.random() < 0.5),
        "main_need": _maybe(rng, rng.choice(NEEDS)),
        "gender": _maybe(rng, rng.choice(["female", "male", "female", "male", "undisclosed"])),
        "age": _maybe(rng, rng.randint(17, 80)),
        "rsh_percentile": _maybe(rng, rng.choice([40, 50, 60, 70, 80, 90, 100])),
    }


def _timed_run(command: list[str], output: Path, peaks: list[int]) -> float:
    """Wall time of one run writing to `output`; appends the child's own peak resident memory (KiB)."""
    with output.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed")
    peaks.append(usage.ru_maxrss)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(20261123)
    ruta = Path(sys.executable).with_name("ruta")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "profiles.jsonl"
        source.write_text("\n".join(json.dumps(profile(rng)) for _ in range(args.profiles)) + "\n")
        output = Path(tmp) / "diagnoses.jsonl"
        times: list[float] = []
        peaks: list[int] = []
        for _ in range(args.runs):
            times.append(_timed_run([str(ruta), "diagnose", str(source), "--today", "2026-11-23"], output, peaks))
            with output.open("rb") as lines:
                assert sum(1 for _ in lines) == args.profiles
    median = statistics.median(times)
    print(f"ruta diagnose: {args.profiles} profiles, {args.runs} runs, whole process (start-up included)")
    print(f"  median wall time: {median:.2f} s (min {min(times):.2f} s, max {max(times):.2f} s)")
    print(f"  throughput: {args.profiles / median:,.0f} profiles/s")
    print(f"  peak resident memory of the process: {statistics.median(peaks) / 1024:.0f} MB (median)")


if __name__ == "__main__":
    main()
