"""Benchmark of the Telegram channel: many people completing diagnoses at once through a fake Bot API.

    .venv/bin/python bench/telegram_bench.py [--users 500] [--runs 3]

The bot is the real `ruta telegram` process (python-telegram-bot long polling, embedded NLU, SQLite in a fresh
home) pointed at a fake Bot API served in this process over real HTTP on localhost (tests/fakes). First one
person per script completes it alone, which records the expected replies of every turn; then `--users` people
start at once, each replaying one of the scripts (buttons pressed and free text typed, the next message sent as
soon as the previous turn's replies arrived).

Reported: user messages handled per second and bot messages sent per second over the concurrent phase, reply
latency p50/p99 (a message sent -> the first reply to it arrived), lost replies (a turn whose replies did not all
arrive within the timeout) and duplicated or out-of-order replies (a transcript different from the expected one),
and the bot's peak resident memory. Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402
from tests.channels.telegram_harness import Step, load_scripts  # noqa: E402
from tests.fakes.telegram_api import FakeBotApi, SentMessage  # noqa: E402

SCRIPTS = list(load_scripts().values())


@dataclass
class Person:
    """One simulated entrepreneur: their chat, script, and what they measured."""

    chat_id: int
    script_number: int
    latencies: list[float] = field(default_factory=list)
    lost_turns: int = 0


class Simulation:
    """Drives people through the fake Bot API and waits for the bot's replies to each of their messages."""

    def __init__(self, fake: FakeBotApi, timeout: float) -> None:
        self.fake = fake
        self.timeout = timeout
        self.arrived: dict[int, asyncio.Event] = {}
        self.first_reply_at: dict[int, float] = {}
        fake.on_bot_message = self._on_bot_message

    def _on_bot_message(self, chat_id: int, sent: SentMessage) -> None:
        self.first_reply_at.setdefault(chat_id, time.perf_counter())
        self.arrived.setdefault(chat_id, asyncio.Event()).set()

    def _sent_count(self, chat_id: int) -> int:
        return len(self.fake.bot_messages(chat_id))

    def _act(self, person: Person, step: Step) -> None:
        action, value = step
        if action == "say":
            self.fake.send_text(person.chat_id, value)
            return
        question = next(m for m in reversed(self.fake.bot_messages(person.chat_id)) if value in dict(m.buttons))
        self.fake.press_button(person.chat_id, question.message_id, dict(question.buttons)[value] or "")

    async def _wait_for(self, chat_id: int, count: int) -> bool:
        event = self.arrived.setdefault(chat_id, asyncio.Event())
        deadline = time.perf_counter() + self.timeout
        while self._sent_count(chat_id) < count:
            event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def run(self, person: Person, expected_counts: list[int] | None) -> list[int]:
        """Play the script; returns the number of bot messages after each turn."""
        counts = []
        for number, step in enumerate(SCRIPTS[person.script_number]):
            self.first_reply_at.pop(person.chat_id, None)
            started = time.perf_counter()
            before = self._sent_count(person.chat_id)
            self._act(person, step)
            want = expected_counts[number] if expected_counts else before + 1
            if not await self._wait_for(person.chat_id, want):
                person.lost_turns += 1
            if expected_counts is None:
                await self.fake.wait_idle(quiet=0.2)
            person.latencies.append(self.first_reply_at.get(person.chat_id, time.perf_counter()) - started)
            counts.append(self._sent_count(person.chat_id))
        return counts


def _start_bot(fake: FakeBotApi, home: Path) -> subprocess.Popen[bytes]:
    """`ruta telegram` in a fresh home; its JSON log lines go to home/bot.log."""
    env = {
        **os.environ,
        "RUTA_HOME": str(home),
        "RUTA_TELEGRAM_TOKEN": fake.token,
        "RUTA_TELEGRAM_BASE_URL": fake.base_url,
        "RUTA_NLU_CACHE": str(Path.home() / ".ruta-emprende" / "cache"),
    }
    bot = ROOT / ".venv" / "bin" / "ruta"
    log = (home / "bot.log").open("wb")
    return subprocess.Popen([str(bot), "telegram", "--log-level", "WARNING"], env=env, stderr=log)


def _peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_run(users: int, timeout: float) -> dict[str, float]:
    async with FakeBotApi(record_calls=False) as fake:
        with tempfile.TemporaryDirectory() as home:
            bot = _start_bot(fake, Path(home))
            try:
                return await _measure(fake, bot, users, timeout)
            finally:
                bot.send_signal(signal.SIGINT)  # a clean stop, as Ctrl-C
                await asyncio.to_thread(bot.wait, 30)  # the fake keeps serving the bot's last calls meanwhile
                problems = (Path(home) / "bot.log").read_text().splitlines()
                if problems:
                    print(
                        f"the bot logged {len(problems)} warnings or errors:", *problems[-5:], sep="\n", file=sys.stderr
                    )


async def _measure(fake: FakeBotApi, bot: subprocess.Popen[bytes], users: int, timeout: float) -> dict[str, float]:
    simulation = Simulation(fake, timeout)
    while not fake.call_counts["getUpdates"]:  # the bot is up once it polls
        if bot.poll() is not None:
            raise RuntimeError("the bot exited (see its log)")
        await asyncio.sleep(0.05)
    expected = []
    for number in range(len(SCRIPTS)):
        alone = Person(1_000 + number, number)
        counts = await simulation.run(alone, None)
        expected.append(([m.html for m in fake.bot_messages(alone.chat_id)], counts))
    people = [Person(100_000 + n, n % len(SCRIPTS)) for n in range(users)]
    sent_before = fake.bot_message_count
    started = time.perf_counter()
    await asyncio.gather(*(simulation.run(p, expected[p.script_number][1]) for p in people))
    elapsed = time.perf_counter() - started
    await fake.wait_idle(quiet=1.0)
    wrong = sum([m.html for m in fake.bot_messages(p.chat_id)] != expected[p.script_number][0] for p in people)
    latencies = [value for p in people for value in p.latencies]
    return {
        "users": users,
        "user_messages": len(latencies),
        "seconds": elapsed,
        "messages_per_s": len(latencies) / elapsed,
        "bot_messages_per_s": (fake.bot_message_count - sent_before) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "lost_turns": sum(p.lost_turns for p in people),
        "wrong_transcripts": wrong,
        "bot_peak_mb": _peak_memory_mb(bot.pid),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds a turn may wait for its replies.")
    args = parser.parse_args()
    results = []
    for run in range(args.runs):
        result = asyncio.run(one_run(args.users, args.timeout))
        results.append(result)
        print(f"run {run + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()), flush=True)
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in results):.1f}" for k in results[0]))


if __name__ == "__main__":
    main()
