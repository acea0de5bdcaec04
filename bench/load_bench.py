"""Load: many people at once through `ruta serve`'s webhooks, Telegram and WhatsApp mixed (issue 12, "Load").

    .venv/bin/python bench/load_bench.py [--users 1000] [--minutes 3] [--backends postgresql,sqlite]

Everything runs on this machine's loopback: the fake Bot API and the fake Graph API (tests/fakes) in this
process, a throw-away PostgreSQL (tests/postgres.py), and `ruta serve` as real processes: 4 workers on
PostgreSQL (`ruta serve --workers 4` when the command has that option; otherwise 4 `ruta serve` processes on 4
ports with the requests spread over them round-robin, as a load balancer would, and the table says so), one
process on SQLite. Temporary files go under /tmp/loadbench/ (the logs of `ruta` are kept there).

Half the simulated people write on Telegram, half on WhatsApp. Telegram's side is the fake Bot API's own
webhook delivery, as Telegram does it: one update of a chat in flight at a time, up to 40 connections, an
update answered with anything but 2xx posted again after a back-off. WhatsApp's side is posted by this driver
(httpx, signed with X-Hub-Signature-256); a 5xx or a failed connection is posted again after 1 s, 2 s, 4 s…,
as Meta does. Each person plays one of tests/channels/scripts.yml's whole diagnoses (a button pressed where
the script presses one), sending the next message once the previous one's replies have all arrived and a
think time (`--think`, ±50 %) has passed; a person who finishes is replaced by a new one (new chat), so the
load is sustained for `--minutes`. Then no new message is sent, the replies still due are waited for, and each
person's final transcript is compared with the one recorded first by people writing alone (calibration).

Reported per backend: user messages handled (all their replies arrived) and per second, reply latency p50/p99
(the webhook posted, or the update queued at Telegram -> the first new bot message recorded by the fake API),
lost (a message whose replies never all arrived), duplicated (bot messages recorded more than once), out of
order (a transcript with the right messages in another order), other differences, turns late (replies not all
in within `--timeout`: the person gave up that diagnosis), 503s and re-posts, peak resident memory of each
worker (VmHWM), this driver's CPU, and the machine's load average. Not a test: it asserts nothing; the table
goes to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path("/tmp/loadbench")

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.stats import percentile  # noqa: E402
from tests.channels.telegram_harness import Step, load_scripts  # noqa: E402
from tests.fakes.graph_api import FakeGraphApi, chosen, sign, text_message  # noqa: E402
from tests.fakes.telegram_api import FakeBotApi, SentMessage  # noqa: E402
from tests.ruta_process import RUTA, ruta_env, until_healthy  # noqa: E402

SCRIPTS = load_scripts()
NAMES = sorted(SCRIPTS)
APP_SECRET = "load-bench-app-secret"
VERIFY_TOKEN = "load-bench-verify"
WEBHOOK_SECRET = "load-bench-webhook-secret"
PSEUDONYM_KEY = "load-bench-pseudonym-key-0123456789abcdef"
QUIET = 0.6  # calibration: seconds without a new or edited bot message that end a turn
TELEGRAM, WHATSAPP = "telegram", "whatsapp"


# --- what the fakes record ------------------------------------------------------------------------------------------


class Replies:
    """Per address (Telegram chat id or WhatsApp number): bot messages so far, the last change, waiters."""

    def __init__(self) -> None:
        self.count: Counter[Any] = Counter()
        self.changed: dict[Any, float] = {}
        self.first_new: dict[Any, float] = {}  # the first new message since mark()
        self.waiters: dict[Any, asyncio.Event] = {}
        self.last_any = time.perf_counter()

    def mark(self, address: Any) -> None:
        self.first_new.pop(address, None)

    def record(self, address: Any, new: bool) -> None:
        now = time.perf_counter()
        self.changed[address] = self.last_any = now
        if new:
            self.count[address] += 1
            self.first_new.setdefault(address, now)
        event = self.waiters.pop(address, None)
        if event is not None:
            event.set()

    async def wait(self, address: Any, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not ready():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            event = self.waiters.setdefault(address, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True

    async def settled(self, address: Any, count: int, timeout: float) -> bool:
        """At least `count` messages, then nothing new or edited for QUIET seconds."""
        if not await self.wait(address, lambda: self.count[address] >= count, timeout):
            return False
        while time.perf_counter() - self.changed.get(address, 0.0) < QUIET:
            await asyncio.sleep(0.1)
        return True


def _telegram_transcript(fake: FakeBotApi, chat_id: int) -> list[str]:
    return [json.dumps([m.html, m.buttons, m.document is not None]) for m in fake.bot_messages(chat_id)]


def _whatsapp_transcript(graph: FakeGraphApi, wa_id: str) -> list[str]:
    """What the person read: each message without its recipient and its receipt tag (a row id)."""
    personal = {"to", "biz_opaque_callback_data"}
    return [
        orjson.dumps({k: v for k, v in m.items() if k not in personal}, option=orjson.OPT_SORT_KEYS).decode()
        for m in graph.sent(wa_id)
    ]


# --- the people -----------------------------------------------------------------------------------------------------


@dataclass
class Expected:
    counts: list[int]  # bot messages after each turn
    transcripts: list[list[str]]  # the transcript after each turn (0: before the first)


@dataclass
class Round:
    """One person's pass through one script."""

    channel: str
    script: str
    address: Any
    sent: int = 0
    late: bool = False
    stuck: str | None = None  # a button the script presses was not offered


@dataclass
class Totals:
    latencies: list[float] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    whatsapp_statuses: Counter[str] = field(default_factory=Counter)
    whatsapp_reposts: int = 0
    typed_instead: int = 0


class Driver:
    """Plays scripts as people on both channels against the running `ruta serve`."""

    def __init__(self, fake: FakeBotApi, graph: FakeGraphApi, ports: list[int], timeout: float) -> None:
        self.fake, self.graph, self.timeout = fake, graph, timeout
        self.telegram, self.whatsapp = Replies(), Replies()
        self.seen_ids: dict[int, set[int]] = {}
        fake.on_bot_message = self._on_telegram
        graph.on_send = lambda to, payload: self.whatsapp.record(to, True)
        self.ports = itertools.cycle(ports)
        limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits)
        self.totals = Totals()
        self.posts: set[asyncio.Task[None]] = set()
        self.expected: dict[tuple[str, str], Expected] = {}

    def _on_telegram(self, chat_id: int, sent: SentMessage) -> None:
        seen = self.seen_ids.setdefault(chat_id, set())
        new = sent.message_id not in seen
        seen.add(sent.message_id)
        self.telegram.record(chat_id, new)

    # --- one message --------------------------------------------------------------------------------------------

    def _telegram_act(self, chat_id: int, step: Step) -> str | None:
        action, value = step
        if action == "say":
            self.fake.send_text(chat_id, value)
            return None
        for message in reversed(self.fake.bot_messages(chat_id)):
            data = dict(message.buttons).get(value)
            if data:
                self.fake.press_button(chat_id, message.message_id, data)
                return None
        return value

    def _whatsapp_payload(self, wa_id: str, step: Step) -> dict[str, Any] | None:
        action, value = step
        if action == "say":
            return text_message(wa_id, value)
        return chosen(self.graph.sent(wa_id), wa_id, value)

    async def _post_whatsapp(self, payload: dict[str, Any]) -> None:
        """Post as Meta does: a 5xx or a failed connection is posted again after 1 s, 2 s, 4 s… (max 30 s)."""
        body = orjson.dumps(payload)
        headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
        delay = 1.0
        while True:
            url = f"http://127.0.0.1:{next(self.ports)}/whatsapp"
            try:
                response = await self.client.post(url, content=body, headers=headers)
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            self.totals.whatsapp_statuses[status] += 1
            if status == "200" or status.startswith("4"):
                return
            self.totals.whatsapp_reposts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def turn(self, game: Round, step: Step, want: int, after: list[str] | None = None) -> bool:
        """Send one message; True when all its replies arrived within the timeout: at least `want` bot messages,
        and every message of `after` (the expected transcript after this turn, edits included), whatever else
        (a duplicate) came too."""
        replies = self.telegram if game.channel == TELEGRAM else self.whatsapp
        replies.mark(game.address)
        started = time.perf_counter()
        if game.channel == TELEGRAM:
            missing = self._telegram_act(game.address, step)
        else:
            payload = self._whatsapp_payload(game.address, step)
            if payload is None and step[0] == "press":  # not offered as a button: type it, as a person would
                self.totals.typed_instead += 1
                payload = text_message(game.address, step[1])
            missing = None
            assert payload is not None
            task = asyncio.create_task(self._post_whatsapp(payload))
            self.posts.add(task)
            task.add_done_callback(self.posts.discard)
        if missing is not None:
            game.stuck = missing
            return False
        game.sent += 1

        def ready() -> bool:
            if replies.count[game.address] < want:
                return False
            return after is None or Counter(after) <= Counter(self._transcript(game.channel, game.address))

        ok = await replies.wait(game.address, ready, self.timeout)
        first = replies.first_new.get(game.address)
        if first is not None:
            self.totals.latencies.append(first - started)
        return ok

    # --- whole diagnoses ----------------------------------------------------------------------------------------

    async def calibrate(self) -> None:
        """Two people per script and channel, alone: the expected transcripts (the second checks the first)."""

        async def alone(channel: str, name: str, address: Any) -> Expected:
            replies = self.telegram if channel == TELEGRAM else self.whatsapp
            game = Round(channel, name, address)
            expected = Expected([], [self._transcript(channel, address)])
            for step in SCRIPTS[name]:
                await self.turn(game, step, replies.count[address] + 1)
                if game.stuck or not await replies.settled(address, replies.count[address], 60):
                    raise RuntimeError(f"calibration: {channel} {name} stuck at {step}: {game.stuck}")
                expected.counts.append(replies.count[address])
                expected.transcripts.append(self._transcript(channel, address))
            return expected

        jobs = {}
        for n, name in enumerate(NAMES):
            for twin in range(2):
                jobs[(TELEGRAM, name, twin)] = alone(TELEGRAM, name, 9_000 + 10 * n + twin)
                jobs[(WHATSAPP, name, twin)] = alone(WHATSAPP, name, f"5699000{n}{twin}0")
        results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
        for channel, name, twin in jobs:
            if twin == 0:
                first, second = results[(channel, name, 0)], results[(channel, name, 1)]
                if first.transcripts != second.transcripts:
                    print(f"warning: calibration of {channel} {name} differs between two people", file=sys.stderr)
                self.expected[(channel, name)] = first
        self.totals = Totals()  # calibration is not part of the figures

    def _transcript(self, channel: str, address: Any) -> list[str]:
        if channel == TELEGRAM:
            return _telegram_transcript(self.fake, address)
        return _whatsapp_transcript(self.graph, address)

    async def person(self, slot: int, deadline: float, think: float) -> None:
        """One simulated slot: people one after another, each a whole diagnosis, until the deadline."""
        channel = TELEGRAM if slot % 2 == 0 else WHATSAPP
        await asyncio.sleep(random.uniform(0, think))
        for number in itertools.count():
            name = NAMES[(slot // 2 + number) % len(NAMES)]
            address: Any = 10_000_000 + slot * 1_000 + number if channel == TELEGRAM else f"56{slot:04d}{number:05d}"
            game = Round(channel, name, address)
            self.totals.rounds.append(game)
            expected = self.expected[(channel, name)]
            for turn, step in enumerate(SCRIPTS[name]):
                if time.perf_counter() >= deadline:
                    return
                if not await self.turn(game, step, expected.counts[turn], expected.transcripts[turn + 1]):
                    game.late = game.stuck is None
                    break
                await asyncio.sleep(random.uniform(0.5 * think, 1.5 * think))
            if time.perf_counter() >= deadline:
                return

    async def drain(self, port: int, quiet: float = 3.0, limit: float = 180.0) -> float:
        """Wait until the outbox is empty (/healthz) and no bot message was recorded for `quiet` seconds (at most
        `limit`); the seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit:
            idle = time.perf_counter() - max(self.telegram.last_any, self.whatsapp.last_any)
            if idle >= quiet and not self.posts and await self._outbox_depth(port) == 0:
                break
            await asyncio.sleep(0.5)
        return time.perf_counter() - started

    async def _outbox_depth(self, port: int) -> int | None:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
            health = (await self.client.get(f"http://127.0.0.1:{port}/healthz")).json()
            return int(health["outbox"]["depth"])
        return None


# --- judging the transcripts ----------------------------------------------------------------------------------------


@dataclass
class Verdict:
    handled: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    different: int = 0
    late_turns: int = 0
    stuck: int = 0
    examples: list[str] = field(default_factory=list)


def judge(driver: Driver) -> Verdict:
    """Each person's final transcript against the expected one for the messages they sent."""
    verdict = Verdict()
    for game in driver.totals.rounds:
        expected = driver.expected[(game.channel, game.script)]
        want = expected.transcripts[game.sent]
        got = driver._transcript(game.channel, game.address)
        verdict.late_turns += game.late
        verdict.stuck += game.stuck is not None
        if got == want:
            verdict.handled += game.sent
            continue
        extra, missing = Counter(got) - Counter(want), Counter(want) - Counter(got)
        if missing and extra and len(got) == len(want):
            verdict.different += 1  # the same number of messages, some of them other ones
        elif not missing and not extra:
            verdict.out_of_order += 1
        else:
            verdict.duplicated += sum(extra.values())
        available = Counter(got)
        bounds = [0, *expected.counts[: game.sent]]
        for start, end in itertools.pairwise(bounds):
            segment = Counter(want[start:end])
            if segment <= available:
                verdict.handled += 1
                available -= segment
            elif not (missing and extra and len(got) == len(want)):
                verdict.lost += 1
        if len(verdict.examples) < 5:
            verdict.examples.append(
                f"{game.channel} {game.address} {game.script}: {game.sent} sent, {len(got)} bot messages, "
                f"{len(want)} expected; missing {sum(missing.values())}, extra {sum(extra.values())}"
            )
    return verdict


# --- processes ------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def has_workers_option() -> bool:
    result = subprocess.run([str(RUTA), "serve", "--help"], capture_output=True, text=True, timeout=60)
    return "--workers" in result.stdout


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class Ruta:
    """`ruta serve` processes: one with --workers N, or N processes on N ports (the fallback)."""

    def __init__(self, home: Path, env: dict[str, str], workers: int, use_option: bool) -> None:
        self.home, self.env, self.workers, self.use_option = home, env, workers, use_option
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []
        self.peak_kb: dict[int, int] = {}
        self.cpu: dict[int, float] = {}

    def _spawn(self, number: int, extra: list[str]) -> None:
        port = _free_port()
        log = self.home / f"serve-{number}.log"
        self.logs.append(log)
        command = [str(RUTA), "serve", "--port", str(port), "--log-level", "WARNING", *extra]
        env = {**self.env, "RUTA_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram"}  # its own setWebhook
        with log.open("wb") as handle:
            self.processes.append(subprocess.Popen(command, env=env, cwd=self.home, stderr=handle))
        self.ports.append(port)

    def _where(self) -> str:
        return f"its log is in {self.home}"

    async def start(self) -> None:
        if self.workers == 1 or self.use_option:
            self._spawn(0, ["--workers", str(self.workers)] if self.workers > 1 else [])
            await until_healthy(self.ports[0], self.processes[0], 180.0, self._where)
            if self.workers > 1:  # every worker answers /healthz once started; give the others a moment
                await asyncio.sleep(3)
            return
        self._spawn(0, [])  # the first one migrates the new database; the others start once it is up
        await until_healthy(self.ports[0], self.processes[0], 180.0, self._where)
        for number in range(1, self.workers):
            self._spawn(number, [])
        for port, process in zip(self.ports[1:], self.processes[1:], strict=True):
            await until_healthy(port, process, 180.0, self._where)

    def worker_pids(self) -> list[int]:
        if self.use_option and self.workers > 1:
            main = self.processes[0].pid
            pids = [pid for pid in _children(main) if "resource_tracker" not in _cmdline(pid)]
            return pids or [main]
        return [process.pid for process in self.processes]

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for pid in self.worker_pids():
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 60)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)

    def problems(self) -> list[str]:
        lines = []
        for log in self.logs:
            with contextlib.suppress(OSError):
                lines += [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        return lines


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return ""


class BalancedBotApi(FakeBotApi):
    """The fake Bot API posting each webhook delivery to the next of several ports (a round-robin balancer)."""

    ports: list[int] | None = None
    _next: Any = None

    async def _push(self, update: dict[str, Any]) -> bool:
        if self.ports and self._webhook is not None:
            if self._next is None:
                self._next = itertools.cycle(self.ports)
            self._webhook.url = f"http://127.0.0.1:{next(self._next)}/telegram"  # read before the first await
        return await super()._push(update)


# --- one backend ----------------------------------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace, use_option: bool) -> dict[str, Any]:
    workers = args.pg_workers if backend == "postgresql" else 1
    home = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=WORK))
    postgres = None
    fake = BalancedBotApi(record_calls=False)
    graph = FakeGraphApi(record_requests=False)
    ruta: Ruta | None = None
    try:
        if backend == "postgresql":
            from tests.postgres import postgres_bin, start_postgres

            bin_dir = postgres_bin()
            if bin_dir is None:
                raise RuntimeError("PostgreSQL is not installed (Debian's postgresql package)")
            postgres = start_postgres(bin_dir)
            database = postgres.url("postgres")
        else:
            database = f"sqlite:///{home / 'ruta.sqlite3'}"
        await fake.start()
        await graph.start()
        env = ruta_env(
            home,
            RUTA_DATABASE_URL=database,
            RUTA_PSEUDONYM_KEY=PSEUDONYM_KEY,
            RUTA_TELEGRAM_TOKEN=fake.token,
            RUTA_TELEGRAM_BASE_URL=fake.base_url,
            RUTA_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            RUTA_WHATSAPP_TOKEN=graph.access_token,
            RUTA_WHATSAPP_PHONE_NUMBER_ID=graph.phone_number_id,
            RUTA_WHATSAPP_APP_SECRET=APP_SECRET,
            RUTA_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            RUTA_WHATSAPP_API_URL=f"{graph.base_url}/v21.0",
        )
        ruta = Ruta(home, env, workers, use_option)
        await ruta.start()
        fake.ports = ruta.ports if len(ruta.ports) > 1 else None
        graph.status_webhook, graph.app_secret = f"http://127.0.0.1:{ruta.ports[0]}/whatsapp", APP_SECRET  # as Meta
        driver = Driver(fake, graph, ruta.ports, args.timeout)
        await driver.calibrate()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(ruta.sample(stop_sampling))
        attempts_before = len(fake.webhook_attempts)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        load_before = os.getloadavg()
        started = time.perf_counter()
        deadline = started + args.minutes * 60
        await asyncio.gather(*(driver.person(slot, deadline, args.think) for slot in range(args.users)))
        elapsed = time.perf_counter() - started
        drained = await driver.drain(ruta.ports[0])
        load_after = os.getloadavg()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        stop_sampling.set()
        await sampler
        verdict = judge(driver)
        attempts = fake.webhook_attempts[attempts_before:]
        telegram_statuses = Counter(str(a.status) if a.status is not None else "connection" for a in attempts)
        driver_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        latencies = driver.totals.latencies
        result = {
            "backend": backend,
            "workers": workers,
            "how": _how(workers, use_option),
            "users": args.users,
            "seconds": round(elapsed, 1),
            "drain_seconds": round(drained, 1),
            "people": len(driver.totals.rounds),
            "diagnoses_finished": sum(
                g.sent == len(SCRIPTS[g.script]) and not g.late and not g.stuck for g in driver.totals.rounds
            ),
            "handled": verdict.handled,
            "per_second": round(verdict.handled / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99) * 1000) if latencies else None,
            "lost": verdict.lost,
            "duplicated": verdict.duplicated,
            "out_of_order": verdict.out_of_order,
            "different": verdict.different,
            "late_turns": verdict.late_turns,
            "stuck": verdict.stuck,
            "typed_instead_of_pressed": driver.totals.typed_instead,
            "telegram_deliveries": dict(telegram_statuses),
            "whatsapp_posts": dict(driver.totals.whatsapp_statuses),
            "whatsapp_reposts": driver.totals.whatsapp_reposts,
            "whatsapp_statuses_posted": graph.statuses_posted,
            "peak_mb_per_worker": sorted(round(kb / 1024) for kb in ruta.peak_kb.values()),
            "worker_cpu_s": sorted(round(s) for s in ruta.cpu.values()),
            "driver_cpu_s": round(driver_cpu),
            "load_avg_before_after": [round(load_before[0], 1), round(load_after[0], 1)],
            "examples": verdict.examples,
        }
        await driver.client.aclose()
        return result
    finally:
        if ruta is not None:
            await ruta.stop()
            problems = ruta.problems()
            if problems:
                print(f"{backend}: ruta logged {len(problems)} lines (WARNING and above):", file=sys.stderr)
                for event, count in Counter(_event(line) for line in problems).most_common():
                    print(f"  {count} x {event}", file=sys.stderr)
                print(*problems[:5], sep="\n", file=sys.stderr)
                kept = WORK / f"{backend}-serve.log"
                kept.write_text("\n".join(problems) + "\n")
                print(f"  all of them in {kept}", file=sys.stderr)
        await graph.stop()
        await fake.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


def _how(workers: int, use_option: bool) -> str:
    if workers == 1:
        return "one process"
    return f"ruta serve --workers {workers}" if use_option else f"{workers} processes on {workers} ports, round-robin"


def _event(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line[:100]
    return f"{record.get('level', '?')} {record.get('event') or record.get('message', '')[:80]}"


# --- the table ------------------------------------------------------------------------------------------------------


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        "| backend | workers | users | s | user messages handled | per s | reply p50 / p99 | lost | duplicated "
        "| out of order | other diff. | late turns | 503s and re-posts (Telegram / WhatsApp) | peak RSS per worker "
        "| driver CPU s | load avg before/after |"
    )
    rows = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        tg_bad = sum(v for k, v in r["telegram_deliveries"].items() if k != "200")
        wa_503 = r["whatsapp_posts"].get("503", 0)
        rows.append(
            f"| {r['backend']} | {r['workers']} ({r['how']}) | {r['users']} | {r['seconds']:.0f} | {r['handled']:,} "
            f"| {r['per_second']} | {r['p50_ms']} ms / {r['p99_ms']} ms | {r['lost']} | {r['duplicated']} "
            f"| {r['out_of_order']} | {r['different']} | {r['late_turns']} "
            f"| {tg_bad} / {wa_503} 503s, {r['whatsapp_reposts']} re-posts "
            f"| {', '.join(f'{mb} MB' for mb in r['peak_mb_per_worker'])} | {r['driver_cpu_s']} "
            f"| {r['load_avg_before_after'][0]} / {r['load_avg_before_after'][1]} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000, help="Simulated people at once, half on each channel.")
    parser.add_argument("--minutes", type=float, default=3.0, help="How long new messages are sent.")
    parser.add_argument("--think", type=float, default=1.0, help="Mean seconds between a reply and the next message.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds a message may wait for its replies.")
    parser.add_argument("--pg-workers", type=int, default=4)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--separate-processes",
        action="store_true",
        help="Several workers as separate `ruta serve` processes on separate ports, even if --workers exists.",
    )
    args = parser.parse_args()
    random.seed(args.seed)
    WORK.mkdir(parents=True, exist_ok=True)
    WORK.chmod(0o755)  # the throw-away PostgreSQL runs as `postgres` under root and needs to reach its folder
    tempfile.tempdir = str(WORK)
    use_option = has_workers_option() and not args.separate_processes
    if not use_option and not args.separate_processes:
        print(
            "ruta serve has no --workers option here: several workers are separate processes on separate ports, "
            "with the requests spread round-robin",
            file=sys.stderr,
        )
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = []
    for backend in args.backends.split(","):
        result = runner(run_backend(backend, args, use_option))
        print(json.dumps(result), flush=True)
        results.append(result)
    print(table(results, args))


if __name__ == "__main__":
    main()
