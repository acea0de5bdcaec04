"""100,000 pending reminders: how long a look takes when nothing is due, and how long it takes to find the due
ones, queue them in the outbox and send them (issue 11).

    .venv/bin/python bench/reminders_bench.py [--pending 100000] [--runs 3]

Each run: a fresh SQLite file with `--pending` reminder rows (people of all communes, spread over the programs
that open by calls), and a knowledge base in which three of those programs open their call on the day looked at.
Reported (medians): a look on a day with nothing due (what `ruta serve` pays every minute), the look that finds
and queues the due reminders, and the outbox sender delivering them through a transport that answers at once
(the real services' own speed is not this product's). Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.addresses import AddressCipher  # noqa: E402
from bot.channels.sender import OutboxSender  # noqa: E402
from bot.outbox import OutboxQueue  # noqa: E402
from bot.reminders import Reminders  # noqa: E402
from bot.replies import Reply  # noqa: E402
from bot.storage import ReminderRow, Store  # noqa: E402
from tests.test_reminders import Knowledge, _call  # noqa: E402

DUE_DAY = date(2030, 3, 4)
QUIET_DAY = date(2030, 1, 10)
DUE = ["sercotec_capital_semilla_emprende", "sercotec_crece", "fosis_yo_emprendo_semilla"]


class InstantTransport:
    """A chat service that takes every message at once."""

    def __init__(self) -> None:
        self.sent = 0

    def parts(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def send(self, address: str, part: Any, tag: str = "") -> None:
        self.sent += 1

    def retry_delay(self, exc: Exception, attempt: int) -> float | None:
        return None


def _fill(store: Store, pending: int, cipher: AddressCipher) -> int:
    """`pending` rows; returns how many are for the programs due on DUE_DAY."""
    kb = Knowledge()()
    instruments = [i for i, instrument in kb.instruments.items() if instrument.availability == "calls"]
    communes = list(kb.communes)
    address = cipher.encrypt("900000000")
    now = datetime.now(UTC)
    rows = [
        {
            "user_key": f"{n:064x}",
            "channel": "telegram",
            "address": address,
            "instrument": instruments[n % len(instruments)],
            "commune": communes[n % len(communes)],
            "created_at": now,
        }
        for n in range(pending)
    ]
    with store.engine.begin() as connection:
        connection.execute(insert(ReminderRow), rows)
    return sum(row["instrument"] in DUE for row in rows)


async def _drain(store: Store, cipher: AddressCipher) -> tuple[float, int]:
    transport = InstantTransport()
    sender = OutboxSender(OutboxQueue(store), cipher, "telegram", transport)
    started = time.perf_counter()
    sender.start()
    delivered = await sender.flush(3600)
    await sender.stop()
    assert delivered
    return time.perf_counter() - started, transport.sent


def one_run(pending: int) -> dict[str, float]:
    cipher = AddressCipher(b"bench-key-" * 4)
    with tempfile.TemporaryDirectory() as home:
        store = Store(f"sqlite:///{Path(home) / 'ruta.sqlite3'}")
        due = _fill(store, pending, cipher)
        knowledge = Knowledge(*(_call(instrument) for instrument in DUE))
        reminders = Reminders(store, knowledge, "telegram", "html")
        started = time.perf_counter()
        assert reminders.queue_due(QUIET_DAY) == 0
        quiet = time.perf_counter() - started
        started = time.perf_counter()
        queued = reminders.queue_due(DUE_DAY)
        found = time.perf_counter() - started
        assert queued == due, (queued, due)
        sent_seconds, sent = asyncio.run(_drain(store, cipher))
        assert sent == due
        store.close()
    return {"quiet_look_s": quiet, "due": due, "find_and_queue_s": found, "send_s": sent_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.pending) for _ in range(args.runs)]
    print(f"pending reminders: {args.pending:,}; due on the day looked at: {int(runs[0]['due']):,}")
    for name in ("quiet_look_s", "find_and_queue_s", "send_s"):
        values = [run[name] for run in runs]
        print(f"{name}: median {statistics.median(values):.3f} s (runs: {', '.join(f'{v:.3f}' for v in values)})")
    found, sent = statistics.median(r["find_and_queue_s"] for r in runs), statistics.median(r["send_s"] for r in runs)
    print(f"due reminders found, queued and sent: {runs[0]['due'] / (found + sent):,.0f} per second")


if __name__ == "__main__":
    main()
