"""Benchmark of the conversation: per-turn latency, start-up to first reply, memory, NLU quality.

    .venv/bin/python bench/chat_bench.py [--conversations 200] [--rasa-url http://127.0.0.1:5005]

- Latency: complete scripted diagnoses through the real engine (embedded NLU, SQLite file), per turn,
  p50/p99 over every turn (the NLU, the dialogue, the diagnosis and the database write included).
- Start-up: a fresh `ruta chat --json` process until its first reply line (cached NLU model).
- Memory: peak resident memory of that process after the scripted conversations.
- NLU: intent accuracy, macro-F1, entity P/R/F1 on the held-out split (nlu/heldout), for the embedded
  backend and, with --rasa-url, for a running Rasa server.
Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402
from bot.settings import Settings  # noqa: E402
from nlu.evaluation import evaluate  # noqa: E402
from nlu.rasa_backend import RasaNlu  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402

SCRIPT = [
    "hola",
    "si",
    "tengo un almacen en vallenar hace 4 años, somos 2",
    "vendo como 800 lucas al mes",
    "no",
    "en mi casa",
    "a veces",
    "si",
    "que es la uf",
    "necesito plata",
    "Mujer",
    "tengo 52 años",
    "estoy en el 40%",
    "cuando cierra el crece",
]


def latency(conversations: int, home: Path) -> list[float]:
    from bot.engine import build_engine

    engine = build_engine(Settings(home=home))
    timings: list[float] = []
    for user in range(conversations):
        for message in SCRIPT:
            start = time.perf_counter()
            engine.handle("bench", str(user), message, date(2026, 3, 10))
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def startup_and_memory(home: Path) -> tuple[float, float]:
    """Seconds from process start to the first reply line, and the process's peak memory (MB)."""
    ruta = Path(sys.executable).with_name("ruta")
    env = {**os.environ, "RUTA_HOME": str(home)}
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(ruta), "chat", "--json", "--user", "startup", "--today", "2026-03-10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin and child.stdout
    child.stdin.write("hola\n")
    child.stdin.flush()
    child.stdout.readline()
    first_reply = time.perf_counter() - start
    for message in SCRIPT[1:] * 20:
        child.stdin.write(message + "\n")
        child.stdin.flush()
        child.stdout.readline()
    peak_kib = _peak_kib(child.pid)  # read before exit; ru_maxrss would count the forked parent's pages
    child.stdin.close()
    child.wait()
    return first_reply, peak_kib / 1024


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def nlu_quality(backend: object) -> dict[str, object]:
    settings = Settings()
    report = evaluate(
        backend,
        load_training_data([ROOT / "nlu" / "heldout"]),  # type: ignore[arg-type]
        load_training_data([settings.nlu_data_path]).synonyms,
    )
    return report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--rasa-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        timings = latency(args.conversations, home)  # also trains and caches the model for the start-up run
        startups, peaks = [], []
        for _ in range(3):
            seconds, peak = startup_and_memory(home)
            startups.append(seconds)
            peaks.append(peak)
        from nlu.embedded import EmbeddedNlu

        embedded = EmbeddedNlu((ROOT / "nlu" / "data",), home / "cache")
        print(f"turns: {len(timings)} ({args.conversations} diagnoses of {len(SCRIPT)} turns), embedded NLU, SQLite")
        print(f"  per-turn latency: p50 {statistics.median(timings):.2f} ms, p99 {percentile(timings, 0.99):.2f} ms")
        print(f"  start-up to first reply: {statistics.median(startups):.2f} s (median of 3)")
        print(f"  peak resident memory of `ruta chat --json`: {statistics.median(peaks):.0f} MB")
        print(f"  held-out NLU, embedded: {nlu_quality(embedded)}")
        if args.rasa_url:
            rasa = RasaNlu(args.rasa_url, 10.0, fallback=embedded)
            rasa_timings = []
            for text in SCRIPT * 20:
                start = time.perf_counter()
                rasa.parse(text)
                rasa_timings.append((time.perf_counter() - start) * 1000)
            print(f"  held-out NLU, rasa: {nlu_quality(rasa)} (fallbacks: {rasa.fallbacks})")
            print(
                f"  rasa parse latency over loopback: p50 {statistics.median(rasa_timings):.1f} ms, "
                f"p99 {percentile(rasa_timings, 0.99):.1f} ms"
            )


if __name__ == "__main__":
    main()
