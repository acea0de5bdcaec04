"""Benchmark: `ruta diagnose` over N generated profiles (default 10,000), as a user would run it.

Runs the installed `ruta` command on a JSON-lines file several times and prints the median wall time, the
throughput and the peak memory of the process. Not a test: figures go to the README.

    .venv/bin/python bench/diagnose_bench.py [--profiles 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMUNES = ["copiapo", "caldera", "tierra_amarilla", "chanaral", "diego_de_almagro", "vallenar", "freirina",
            "huasco", "alto_del_carmen"]
SECTORS = ["agro", "pesca", "mineria", "turismo", "comercio", "gastronomia", "manufactura", "servicios",
           "construccion", "transporte", "otro"]
NEEDS = ["financing", "training", "formalization", "market", "technical", "quality", "export", "workforce"]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(20261123)
    ruta = Path(sys.executable).with_name("ruta")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "profiles.jsonl"
        source.write_text("\n".join(json.dumps(profile(rng)) for _ in range(args.profiles)) + "\n")
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run([str(ruta), "diagnose", str(source), "--today", "2026-11-23"],
                                  capture_output=True, check=True)
            times.append(time.perf_counter() - start)
            assert done.stdout.count(b"\n") == args.profiles
    median = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"ruta diagnose: {args.profiles} profiles, {args.runs} runs")
    print(f"  median wall time: {median:.2f} s (min {min(times):.2f} s, max {max(times):.2f} s)")
    print(f"  throughput: {args.profiles / median:,.0f} profiles/s")
    print(f"  peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
