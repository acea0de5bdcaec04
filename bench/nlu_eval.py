"""Held-out NLU quality of both backends, measured in one run: the embedded NLU and a real Rasa server.

    .venv/bin/python bench/nlu_eval.py [--rasa-url http://127.0.0.1:5005] [--repeat 3] [--json]

- Without --rasa-url, a Rasa server is set up, trained (when nlu/data changed) and started on a free port by
  tests/rasa_service.py (scripts/rasa.sh), and stopped at the end; with it, that running server is used.
- Both backends parse every example of nlu/heldout (the split that training never sees) and are scored by
  nlu.evaluation.evaluate: intent accuracy, intent macro-F1, entity precision/recall/F1.
- Parse latency: every held-out message parsed `--repeat` times, median and p95 per message (Rasa over
  loopback HTTP, the embedded NLU in process, model already loaded).
- The Rasa backend runs without the embedded fallback: a failed Rasa parse stops the run instead of being
  answered, and counted, by the embedded NLU.
Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402
from nlu.embedded import EmbeddedNlu  # noqa: E402
from nlu.evaluation import evaluate  # noqa: E402
from nlu.parse import NluBackend, ParseDict  # noqa: E402
from nlu.rasa_backend import RasaNlu  # noqa: E402
from nlu.training_data import DATA_DIR, TrainingData, load_training_data  # noqa: E402

HELDOUT = ROOT / "nlu" / "heldout"


class _NoFallback:
    """Stands in for the embedded fallback of the Rasa backend: a Rasa failure must not be scored as Rasa's."""

    name = "none"

    def parse(self, text: str) -> ParseDict:
        raise RuntimeError(f"the Rasa server failed to parse {text!r}; see its log")


def measure(backend: NluBackend, heldout: TrainingData, synonyms: dict[str, str], repeat: int) -> dict[str, Any]:
    """Quality figures and parse latency of one backend on the held-out split."""
    report = evaluate(backend, heldout, synonyms)
    timings: list[float] = []
    for _ in range(repeat):
        for example in heldout.examples:
            start = time.perf_counter()
            backend.parse(example.text)
            timings.append((time.perf_counter() - start) * 1000)
    return {
        "backend": backend.name,
        **report.to_dict(),
        "parse_ms_median": round(statistics.median(timings), 3),
        "parse_ms_p95": round(percentile(timings, 0.95), 3),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    columns = [
        ("backend", "backend", "{}"),
        ("intent_accuracy", "intent acc", "{:.4f}"),
        ("intent_macro_f1", "macro-F1", "{:.4f}"),
        ("entity_precision", "entity P", "{:.4f}"),
        ("entity_recall", "entity R", "{:.4f}"),
        ("entity_f1", "entity F1", "{:.4f}"),
        ("parse_ms_median", "parse ms p50", "{:.2f}"),
        ("parse_ms_p95", "parse ms p95", "{:.2f}"),
    ]
    cells = [[title for _, title, _ in columns]] + [[fmt.format(row[key]) for key, _, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])


def run(rasa_url: str | None, repeat: int) -> list[dict[str, Any]]:
    heldout = load_training_data([HELDOUT])
    synonyms = load_training_data([DATA_DIR]).synonyms
    with tempfile.TemporaryDirectory() as cache:
        embedded = EmbeddedNlu((DATA_DIR,), Path(cache))
        rows = [measure(embedded, heldout, synonyms, repeat)]
    server = None
    if rasa_url is None:
        from tests.rasa_service import start_rasa_server

        print("starting a Rasa server (scripts/rasa.sh setup, validate, train, run)...", file=sys.stderr)
        server = start_rasa_server(env={"RASA_STRICT": "1"})
        rasa_url = server.url
    try:
        rasa = RasaNlu(rasa_url, 30.0, fallback=_NoFallback())
        rows.append(measure(rasa, heldout, synonyms, repeat))
        rasa.close()
    finally:
        if server is not None:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rasa-url", default=None, help="a running Rasa server (default: start one)")
    parser.add_argument("--repeat", type=int, default=3, help="latency: parses of each held-out message")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args()
    rows = run(args.rasa_url, args.repeat)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print(f"held-out split nlu/heldout: {rows[0]['examples']} examples; training data nlu/data")
    print(_table(rows))


if __name__ == "__main__":
    main()
