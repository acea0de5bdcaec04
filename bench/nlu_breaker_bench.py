"""A whole conversation's time with a hung Rasa server, without and with the circuit breaker, beside the
embedded NLU and a Rasa that answers.

    .venv/bin/python bench/nlu_breaker_bench.py [--runs 3] [--timeout 2.0]

The conversation is chat_bench's script (14 messages to a route) through the real engine (SQLite file). The
hung server (tests/fakes/rasa_server.py, mode "hang") accepts every connection, reads the request and never
answers, as in the issue. Cases, each a fresh backend and a fresh user per run:

- embedded: the embedded NLU alone (the baseline);
- rasa answering: the fake Rasa answering over loopback HTTP (its parse is the embedded NLU's);
- hung, no breaker: a breaker that never opens, i.e. every free-text turn waits RUTA_RASA_TIMEOUT (the behaviour
  before the breaker);
- hung, breaker (first conversation): the default breaker (3 failures, 30 s cool-down), starting closed: the
  first three free-text turns wait the timeout, then it opens;
- hung, breaker open: a second conversation on the same backend, its breaker already open.

Medians over runs (min and max beside). Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chat_bench import SCRIPT  # noqa: E402
from bot.engine import Engine  # noqa: E402
from nlu.embedded import EmbeddedNlu  # noqa: E402
from nlu.parse import NluBackend  # noqa: E402
from nlu.rasa_backend import RasaNlu  # noqa: E402
from nlu.training_data import DATA_DIR  # noqa: E402
from tests.fakes.rasa_server import FakeRasa  # noqa: E402
from tests.test_conversations import make_engine  # noqa: E402

TODAY = date(2026, 3, 10)
NEVER = sys.maxsize  # failures in a row before a breaker that never opens
Timings = list[tuple[float, list[float]]]  # per conversation: seconds, and each turn's milliseconds
_databases = itertools.count()


def conversation(engine: Engine, user: str) -> tuple[float, list[float]]:
    """Seconds for the whole script, and each turn's milliseconds."""
    turns = []
    for message in SCRIPT:
        started = time.perf_counter()
        engine.handle("bench", user, message, TODAY)
        turns.append((time.perf_counter() - started) * 1000)
    return sum(turns) / 1000, turns


def measure(runs: int, folder: Path, make_nlu: Callable[[], NluBackend], conversations: int = 1) -> list[Timings]:
    """Per run, the timings of `conversations` conversations in a row on one fresh backend (and a fresh database)."""
    results = []
    for run in range(runs):
        nlu = make_nlu()
        engine = make_engine(nlu, folder / f"{next(_databases)}.sqlite3")
        results.append([conversation(engine, f"{run}-{number}") for number in range(conversations)])
        if isinstance(nlu, RasaNlu):
            nlu.close()
    return results


def report(name: str, timings: list[tuple[float, list[float]]]) -> None:
    seconds = [total for total, _ in timings]
    turns = [ms for _, each in timings for ms in each]
    print(
        f"  {name:<36} {statistics.median(seconds):7.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f}); "
        f"turn p50 {statistics.median(turns):.2f} ms, max {max(turns):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="RUTA_RASA_TIMEOUT (default 2 s)")
    args = parser.parse_args()
    logging.getLogger("nlu").setLevel(logging.ERROR)  # one warning per failed parse would bury the figures
    runs, timeout = args.runs, args.timeout
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        embedded = EmbeddedNlu((DATA_DIR,), folder / "cache")
        with FakeRasa(embedded, mode="rasa") as answering, FakeRasa(embedded, mode="hang") as hung:
            measure(1, folder, lambda: embedded)  # warm-up: the model, the templates, SQLite
            print(
                f"one conversation of {len(SCRIPT)} messages through the engine (SQLite), "
                f"RUTA_RASA_TIMEOUT {timeout:g} s, {runs} runs; median (min, max):"
            )
            report("embedded", [run[0] for run in measure(runs, folder, lambda: embedded)])
            rasa = measure(runs, folder, lambda: RasaNlu(answering.url, timeout, embedded))
            report("rasa answering", [run[0] for run in rasa])
            never = measure(runs, folder, lambda: RasaNlu(hung.url, timeout, embedded, breaker_failures=NEVER))
            report("hung, no breaker", [run[0] for run in never])
            breaker = measure(runs, folder, lambda: RasaNlu(hung.url, timeout, embedded), conversations=2)
            report("hung, breaker (first conversation)", [run[0] for run in breaker])
            report("hung, breaker open", [run[1] for run in breaker])


if __name__ == "__main__":
    main()
