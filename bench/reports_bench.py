"""Benchmark of the agency's data side: export and every report over 100,000 diagnoses.

    .venv/bin/python bench/reports_bench.py [--diagnoses 100000] [--runs 3]

Seeded synthetic diagnoses (tests/analytics/synthetic.py) are written once to a SQLite file in a fresh home
(not timed). Then, per run, the real commands run as processes, as staff would run them: first one command
each (`ruta export` CSV and Parquet, `ruta report gender|matrix|map|progress` to PDF), then the export and
`ruta report all`, which reads the data once for the four reports. Reported: the seconds of each command and
of all together (target: under 30 s), and the peak memory of the largest. Not a test: figures go to the README.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.engine import diagnosis_results  # noqa: E402
from bot.storage import DiagnosisRecord, Store  # noqa: E402
from knowledge import diagnose, load_knowledge_base, parse_profile  # noqa: E402
from tests.analytics.synthetic import synthetic_profile  # noqa: E402

RUTA = ROOT / ".venv" / "bin" / "ruta"
COMMANDS = {
    "export csv": ["export", "--format", "csv", "--out", "{out}/d.csv"],
    "export parquet": ["export", "--format", "parquet", "--out", "{out}/d.parquet"],
    "report gender": ["report", "gender", "--out", "{out}/gender.pdf"],
    "report matrix": ["report", "matrix", "--out", "{out}/matrix.pdf"],
    "report map": ["report", "map", "--out", "{out}/map.pdf"],
    "report progress": ["report", "progress", "--out", "{out}/progress.pdf"],
}
ALL_AT_ONCE = {
    "export csv": COMMANDS["export csv"],
    "report all (4 PDFs)": ["report", "all", "--out", "{out}/reports"],
}


def seed(home: Path, count: int) -> None:
    """`count` synthetic diagnoses in one transaction (what the engine would have stored over 40 weeks)."""
    kb = load_knowledge_base()
    rng = random.Random(1)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    records = []
    for number in range(count):
        made = start + timedelta(minutes=rng.randint(0, 40 * 7 * 1440))
        profile = parse_profile(synthetic_profile(rng, kb), kb)
        results = diagnosis_results(diagnose(profile, kb, made.date()))
        records.append(
            {
                "user_key": f"bench-{number}",
                "created_at": made,
                "consent": True,
                "answers": profile.model_dump(),
                "results": results,
                "kb_version": kb.version,
            }
        )
    store = Store(f"sqlite:///{home / 'ruta.sqlite3'}")
    with store.engine.begin() as connection:
        connection.execute(insert(DiagnosisRecord.__table__), records)


def run_all(home: Path, commands: dict[str, list[str]]) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUTA_")}
    env |= {"RUTA_HOME": str(home), "RUTA_RETENTION_MONTHS": "0"}
    seconds = {}
    for name, args in commands.items():
        started = time.perf_counter()
        subprocess.run([str(RUTA), *(a.format(out=home) for a in args)], env=env, check=True, capture_output=True)
        seconds[name] = time.perf_counter() - started
    seconds["all together"] = sum(seconds.values())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diagnoses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        started = time.perf_counter()
        seed(home, args.diagnoses)
        print(f"seeded {args.diagnoses} diagnoses in {time.perf_counter() - started:.1f} s (not timed below)")
        for title, commands in [("one command each", COMMANDS), ("the export, then all reports at once", ALL_AT_ONCE)]:
            runs = [run_all(home, commands) for _ in range(args.runs)]
            print(f"-- {title}")
            for name in runs[0]:
                values = [run[name] for run in runs]
                spread = f"(min {min(values):.2f}, max {max(values):.2f})"
                print(f"{name:20} median {statistics.median(values):6.2f} s  {spread}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory of the largest command: {peak:.0f} MB")


if __name__ == "__main__":
    main()
