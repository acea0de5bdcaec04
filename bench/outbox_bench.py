"""`ruta telegram` stopped while its sends fail, then restarted: how fast it stops and how fast the replies it
kept go out (the durable outbox, issue 15).

    .venv/bin/python bench/outbox_bench.py [--runs 5]

Each run: a fake Bot API on loopback answers sendMessage with 500; a person writes "hola"; once the first send
has failed, SIGTERM. Reported (medians): seconds from SIGTERM to exit (RUTA_OUTBOX_FLUSH_SECONDS, default 5,
bounds the flush), and, with the API healthy again, seconds from the restart to the delivery of the kept
replies (start-up of the process included). Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import FakeBotApi  # noqa: E402
from tests.ruta_process import RUTA, ruta_env  # noqa: E402


def _telegram(fake: FakeBotApi, home: Path) -> subprocess.Popen[str]:
    env = ruta_env(home, RUTA_TELEGRAM_TOKEN=fake.token, RUTA_TELEGRAM_BASE_URL=fake.base_url)
    return subprocess.Popen([str(RUTA), "telegram"], env=env, cwd=home, stderr=subprocess.DEVNULL, text=True)


async def one_run(home: Path) -> tuple[float, float]:
    async with FakeBotApi() as fake:
        bot = _telegram(fake, home)
        fake.send_text(9001, "hola")  # warm: the model cached, a healthy reply
        await fake.wait_for_messages(9001, 2, timeout=120)
        fake.set_method_status("sendMessage", 500)
        fake.send_text(9002, "hola")
        while fake.injected_failures["sendMessage"] == 0:
            await asyncio.sleep(0.01)
        stopped = time.perf_counter()
        bot.send_signal(signal.SIGTERM)
        await asyncio.to_thread(bot.wait, 60)
        stop_seconds = time.perf_counter() - stopped
        fake.set_method_status("sendMessage", None)
        started = time.perf_counter()
        bot = _telegram(fake, home)
        await fake.wait_for_messages(9002, 2, timeout=120)
        delivery_seconds = time.perf_counter() - started
        bot.send_signal(signal.SIGTERM)
        await asyncio.to_thread(bot.wait, 60)
    return stop_seconds, delivery_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = [asyncio.run(one_run(Path(tempfile.mkdtemp(prefix="outbox-")))) for _ in range(args.runs)]
    stops, deliveries = zip(*results, strict=True)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "sigterm_to_exit_seconds_median": round(statistics.median(stops), 2),
                "sigterm_to_exit_seconds_max": round(max(stops), 2),
                "restart_to_delivery_seconds_median": round(statistics.median(deliveries), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
