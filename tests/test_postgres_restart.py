"""Issue 12, "Faults": PostgreSQL restarted while `ruta serve` is under load.

`ruta serve --workers 2` runs as a real process on a database of the throw-away PostgreSQL (tests/postgres.py),
with the fake Telegram Bot API (whose own webhook delivery posts an update again after anything but 2xx, with a
short back-off, as Telegram does) and the fake Graph API (this driver posts WhatsApp's notifications, and posts
one again after a 5xx or a failed connection, as Meta does). First one person per script and channel plays a
whole diagnosis of tests/channels/scripts.yml alone: the reference transcripts. Then 16 people, half on each
channel, play them all at once, and when a third of their turns are answered PostgreSQL is restarted under them
(`pg_ctl restart -m fast`; and `-m immediate`, a crash followed by recovery).

Afterwards: every person's transcript is exactly the reference (each reply delivered once, none missing, in
order, ending on the same route); one diagnosis row per person and nothing half-written (the outbox empty, every
inbound message processed once, each conversation "done" and naming its own diagnosis); no webhook answered
anything but 200 or 503; /healthz is healthy; and the server logged the outage in a few lines, with no worker
started again and no traceback storm. The database of each test commits durably (synchronous_commit on, as
PostgreSQL's default), so that a crash loses no turn whose 200 was answered.

The last test is the smallest case of what the load found first: a reply sent while the database was away, whose
row could not be deleted, must not be claimed and sent again once the database is back (bot/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from bot.outbox import OutboxQueue
from bot.storage import Store
from tests.channels.telegram_harness import Step, load_scripts
from tests.fakes.graph_api import FakeGraphApi, chosen, sign, text_message
from tests.fakes.telegram_api import FakeBotApi, PushAttempt
from tests.postgres import SERVICE_USER, SETTINGS, PostgresServer
from tests.ruta_process import RUTA, ruta_env, until_healthy

pytestmark = pytest.mark.postgresql

SCRIPTS = load_scripts()
NAMES = sorted(SCRIPTS)
TELEGRAM, WHATSAPP = "telegram", "whatsapp"
WORKERS = 2
PEOPLE = 16  # half on each channel, at once
RESTART_AT = 1 / 3  # of the people's turns answered
TURN_TIMEOUT = 90.0  # seconds a message may wait for its replies before they count as lost
START_TIMEOUT = 120.0
APP_SECRET = "pg-restart-app-secret"
WEBHOOK_SECRET = "pg-restart-webhook-secret"
PSEUDONYM_KEY = "pg-restart-pseudonym-key-0123456789abcdef"
LEASE_SECONDS = "5"  # a reply whose sender lost the database gets claimed again this soon (default 20)
ROUTE = ("Tu ruta, paso a paso", "<b>Tu ruta, paso a paso</b>")
# At most this many log lines per webhook answered 503 (its own line, and the outbox senders' and the pool's
# around it), plus a fixed allowance for the seconds the server is away; and no more tracebacks than this.
LOG_LINES_PER_FAILURE = 3
LOG_LINES_ALLOWED = 60
TRACEBACKS_ALLOWED = 4

Address = int | str


@dataclass(frozen=True)
class Person:
    channel: str
    script: str
    address: Address


@dataclass
class Observed:
    """What the webhooks answered, when, and what the fault did."""

    whatsapp: Counter[str] = field(default_factory=Counter)  # status (or the connection error's name) -> count
    failures: list[float] = field(default_factory=list)  # times of non-2xx answers and failed connections
    successes: list[float] = field(default_factory=list)  # times of 2xx answers
    restart_started: float | None = None
    restart_ended: float | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_ctl(server: PostgresServer, *args: str) -> None:
    command = [str(server.bin_dir / "pg_ctl"), "-D", str(server.data), "-l", str(server.folder / "log"), "-w", *args]
    if os.geteuid() == 0:  # the server runs as the package's user (tests/postgres.py)
        command = ["runuser", "-u", SERVICE_USER, "--", *command]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)


def restart_postgres(server: PostgresServer, mode: str) -> None:
    """`pg_ctl restart -m MODE` of the throw-away server: "fast" closes every connection and shuts down cleanly,
    "immediate" kills the server (recovery at the next start); same port, data kept."""
    _pg_ctl(server, "-m", mode, "restart")


@contextlib.contextmanager
def postgres_stopped(server: PostgresServer) -> Iterator[None]:
    """The throw-away server stopped for the block, then started again as tests/postgres.py starts it."""
    _pg_ctl(server, "-m", "fast", "stop")
    try:
        yield
    finally:
        options = ["-c listen_addresses=127.0.0.1", f"-p {server.port}", f"-c unix_socket_directories={server.folder}"]
        _pg_ctl(server, "-o", " ".join([*options, *(f"-c {setting}" for setting in SETTINGS)]), "start")


class RutaServe:
    """`ruta serve --workers N` as a process, its log (stderr) in a file."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.log = home / "serve.log"
        self.port = port
        command = [str(RUTA), "serve", "--port", str(port), "--workers", str(WORKERS)]
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(command, env=env, cwd=home, stderr=handle)

    async def healthy(self) -> None:
        await until_healthy(self.port, self.process, START_TIMEOUT, self.text)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """Each log line as a JSON object ({"raw": line} for a line that is not one, such as a traceback's)."""
        records = []
        for line in self.text().splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"raw": line}
            records.append(record if isinstance(record, dict) else {"raw": line})
        return records


class Driver:
    """Plays people through the fakes against `ruta serve`: acts, waits for the replies, re-delivers."""

    def __init__(self, fake: FakeBotApi, graph: FakeGraphApi, client: httpx.AsyncClient) -> None:
        self.fake, self.graph, self.client = fake, graph, client
        self.observed = Observed()
        self.turns_answered = 0
        self.milestone = asyncio.Event()
        self.milestone_at = 0
        self.random = random.Random(12)

    # --- what a person sees ---------------------------------------------------------------------------------------

    def transcript(self, person: Person) -> list[str]:
        """The bot's messages to the person, in order, each as it reads now (Telegram: edits included)."""
        if person.channel == TELEGRAM:
            assert isinstance(person.address, int)
            return [
                json.dumps([m.html, m.buttons, m.document is not None]) for m in self.fake.bot_messages(person.address)
            ]
        assert isinstance(person.address, str)
        unread = ("to", "biz_opaque_callback_data")  # the recipient, and the receipt tag (a row id)
        return [
            orjson.dumps({k: v for k, v in m.items() if k not in unread}, option=orjson.OPT_SORT_KEYS).decode()
            for m in self.graph.sent(person.address)
        ]

    # --- one message ----------------------------------------------------------------------------------------------

    async def act(self, person: Person, step: Step) -> None:
        """Send the step's message; WhatsApp's is posted until answered 2xx (Telegram's fake re-delivers by
        itself)."""
        action, value = step
        if person.channel == TELEGRAM:
            assert isinstance(person.address, int)
            if action == "say":
                self.fake.send_text(person.address, value)
                return
            for message in reversed(self.fake.bot_messages(person.address)):
                data = dict(message.buttons).get(value)
                if data:
                    self.fake.press_button(person.address, message.message_id, data)
                    return
            raise AssertionError(f"{person}: no button {value!r} offered")
        assert isinstance(person.address, str)
        await self._post_whatsapp(self._whatsapp_payload(person.address, step))

    def _whatsapp_payload(self, wa_id: str, step: Step) -> dict[str, Any]:
        action, value = step
        if action == "say":
            return text_message(wa_id, value)
        payload = chosen(self.graph.sent(wa_id), wa_id, value)
        if payload is None:
            raise AssertionError(f"{wa_id}: no button {value!r} offered")
        return payload

    async def _post_whatsapp(self, payload: dict[str, Any]) -> None:
        """Post as Meta does: the same notification again after a 5xx or a failed connection (short back-off
        here: 0.1 s doubling to 2 s). Anything else but 200 fails the test."""
        body = orjson.dumps(payload)
        headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
        delay = 0.1
        deadline = time.monotonic() + TURN_TIMEOUT
        while True:
            try:
                response = await self.client.post("/whatsapp", content=body, headers=headers)
                status = str(response.status_code)
            except httpx.TransportError as exc:
                status = type(exc).__name__
            self.observed.whatsapp[status] += 1
            if status == "200":
                self.observed.successes.append(time.monotonic())
                return
            self.observed.failures.append(time.monotonic())
            assert status == "503" or not status.isdigit(), f"the WhatsApp webhook answered {status}"
            assert time.monotonic() < deadline, f"a WhatsApp message was refused for {TURN_TIMEOUT} s"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _until(self, ready: Callable[[], bool], what: str, timeout: float = TURN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, f"{what} (waited {timeout} s)"
            await asyncio.sleep(0.02)

    async def _outbox_depth(self) -> int | None:
        try:
            health = (await self.client.get("/healthz")).json()
            return int(health["outbox"]["depth"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    async def outbox_empty(self, timeout: float = TURN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while await self._outbox_depth() != 0:
            assert time.monotonic() < deadline, f"the outbox was not emptied within {timeout} s"
            await asyncio.sleep(0.05)

    # --- whole diagnoses ------------------------------------------------------------------------------------------

    async def reference(self, person: Person) -> list[list[str]]:
        """The person's transcript after each turn, played without a fault: a turn is over once its message is
        acknowledged (its turn committed with its replies in the outbox) and the outbox is empty again (those
        replies delivered)."""
        after = []
        for step in SCRIPTS[person.script]:
            await self.act(person, step)
            if person.channel == TELEGRAM:
                await self._until(lambda: self.fake.pending_updates == 0, f"{person}: update not acknowledged")
            await self.outbox_empty()
            after.append(self.transcript(person))
        return after

    async def _replies(self, person: Person, turn: int, want: Counter[str]) -> None:
        """Until the person has every message of `want` (whatever else came too: judged at the end)."""
        deadline = time.monotonic() + TURN_TIMEOUT
        while not want <= Counter(self.transcript(person)):
            missing = list((want - Counter(self.transcript(person))).elements())
            assert time.monotonic() < deadline, (
                f"{person}: the replies to turn {turn + 1} ({SCRIPTS[person.script][turn]}) did not all arrive "
                f"within {TURN_TIMEOUT} s; missing {missing}"
            )
            await asyncio.sleep(0.02)

    async def play(self, person: Person, expected: list[list[str]]) -> None:
        """The person's diagnosis with the others: each next message once this one's replies (and edits) are all
        there, after a short pause."""
        await asyncio.sleep(self.random.uniform(0, 0.3))
        for turn, step in enumerate(SCRIPTS[person.script]):
            await self.act(person, step)
            await self._replies(person, turn, Counter(expected[turn]))
            self.turns_answered += 1
            if self.turns_answered >= self.milestone_at:
                self.milestone.set()
            await asyncio.sleep(self.random.uniform(0, 0.05))


async def _restart_when(driver: Driver, server: PostgresServer, mode: str) -> None:
    await driver.milestone.wait()
    driver.observed.restart_started = time.monotonic()
    await asyncio.to_thread(restart_postgres, server, mode)
    driver.observed.restart_ended = time.monotonic()


async def _fresh_healthz(port: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        return await client.get("/healthz")


def _people(start: int, count: int) -> list[Person]:
    people = []
    for number in range(count):
        channel = TELEGRAM if number % 2 == 0 else WHATSAPP
        script = NAMES[(number // 2) % len(NAMES)]
        address: Address = 7_000_000 + start + number if channel == TELEGRAM else f"5697{start + number:07d}"
        people.append(Person(channel, script, address))
    return people


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    """A new database whose commits are durable, as PostgreSQL's are by default: the throw-away server runs with
    synchronous_commit off (tests/postgres.py), and a crash (`-m immediate`) would then lose transactions it had
    reported committed, turns whose 200 was already answered."""
    with postgres_server.database() as url:
        name = make_url(url).database
        with psycopg.connect(postgres_server.url("postgres", "postgresql"), autocommit=True) as connection:
            connection.execute(f"ALTER DATABASE {name} SET synchronous_commit TO on")  # a name made by the fixture
        yield url


def _database_rows(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            diagnoses: dict[str, int] = dict(
                connection.execute(text("SELECT user_key, count(*) FROM diagnoses GROUP BY user_key")).all()
            )
            ids = {row.id: row.user_key for row in connection.execute(text("SELECT id, user_key FROM diagnoses"))}
            conversations = connection.execute(text("SELECT key, state FROM conversations")).all()
            outbox = connection.execute(text("SELECT count(*) FROM outbox")).scalar_one()
            processed = connection.execute(text("SELECT count(*) FROM processed_messages")).scalar_one()
    finally:
        engine.dispose()
    return {
        "diagnoses": diagnoses,
        "ids": ids,
        "conversations": conversations,
        "outbox": outbox,
        "processed": processed,
    }


def _serve_env(home: Path, database: str, port: int, fake: FakeBotApi, graph: FakeGraphApi) -> dict[str, str]:
    return ruta_env(
        home,
        RUTA_DATABASE_URL=database,
        RUTA_PSEUDONYM_KEY=PSEUDONYM_KEY,
        RUTA_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
        RUTA_TELEGRAM_TOKEN=fake.token,
        RUTA_TELEGRAM_BASE_URL=fake.base_url,
        RUTA_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        RUTA_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        RUTA_WHATSAPP_TOKEN=graph.access_token,
        RUTA_WHATSAPP_PHONE_NUMBER_ID=graph.phone_number_id,
        RUTA_WHATSAPP_APP_SECRET=APP_SECRET,
        RUTA_WHATSAPP_VERIFY_TOKEN="pg-restart-verify",
        RUTA_WHATSAPP_API_URL=f"{graph.base_url}/v21.0",
    )


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgresql_restarted_under_load_loses_nothing_and_duplicates_nothing(
    postgres_server: PostgresServer, database: str, tmp_path: Path, mode: str
) -> None:
    port = _free_port()
    async with (
        FakeBotApi() as fake,
        FakeGraphApi() as graph,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        serve = RutaServe(tmp_path, _serve_env(tmp_path, database, port, fake, graph), port)
        try:
            await serve.healthy()
            driver = Driver(fake, graph, client)
            alone = _people(0, 2 * len(NAMES))
            references = await asyncio.gather(*(driver.reference(person) for person in alone))
            expected = {(p.channel, p.script): after for p, after in zip(alone, references, strict=True)}
            for person, after in zip(alone, references, strict=True):
                assert any(route in line for line in after[-1] for route in ROUTE), f"{person}: no route"

            driver.observed = Observed()
            telegram_before = len(fake.webhook_attempts)
            people = _people(100, PEOPLE)
            driver.milestone_at = int(RESTART_AT * sum(len(SCRIPTS[p.script]) for p in people))
            restart = asyncio.create_task(_restart_when(driver, postgres_server, mode))
            await asyncio.gather(*(driver.play(p, expected[(p.channel, p.script)]) for p in people))
            await restart
            await driver.outbox_empty()  # and a reply claimed by a sender that lost the database, sent again
            health = [await _fresh_healthz(port) for _ in range(4 * WORKERS)]  # new connections: any worker
        finally:
            code = await asyncio.to_thread(serve.stop)
        telegram = Counter(_delivery_status(attempt) for attempt in fake.webhook_attempts[telegram_before:])

    observed, records = driver.observed, serve.records()
    summary = _summary(mode, observed, telegram, records)
    print(summary)
    refused = sum(n for status, n in observed.whatsapp.items() if status != "200")
    refused += sum(n for status, n in telegram.items() if status != "200")
    assert refused, f"no webhook met the restart: nothing was tested\n{summary}"

    # Every person ends on the reference transcript: each reply once, none missing, in order, the same route.
    differences = [
        _difference(person, expected[(person.channel, person.script)][-1], driver.transcript(person))
        for person in people
    ]
    differences = [line for line in differences if line]
    assert not differences, "transcripts differ from the reference:\n" + "\n".join(differences) + "\n" + summary

    # Nothing half-written: one diagnosis per person, each conversation done and naming its own diagnosis, every
    # inbound message processed once, the outbox empty.
    rows = _database_rows(database)
    everyone = len(alone) + len(people)
    assert sorted(rows["diagnoses"].values()) == [1] * everyone, f"diagnoses per person: {rows['diagnoses']}"
    assert len(rows["conversations"]) == everyone
    for key, state in rows["conversations"]:
        state = state if isinstance(state, dict) else json.loads(state)
        assert state.get("phase") == "done" and rows["ids"].get(state.get("diagnosis_id")) == key, state
    inbound = sum(len(SCRIPTS[p.script]) for p in [*alone, *people])
    assert rows["processed"] == inbound, f"{rows['processed']} messages processed, {inbound} sent"
    assert rows["outbox"] == 0

    # The webhooks answered 200 or 503 (which Telegram and Meta deliver again), never a 500 or a 4xx.
    assert set(telegram) <= {"200", "503"}, (
        f"Telegram's deliveries were answered {dict(telegram)} (a ReadTimeout: /telegram took longer than the fake "
        f"Bot API's 10 s to answer)\n{summary}"
    )
    assert set(observed.whatsapp) <= {"200", "503"}, f"WhatsApp's posts were answered {dict(observed.whatsapp)}"

    # The pool reconnected: /healthz is healthy on new connections, and the server stopped cleanly.
    for response in health:
        assert response.status_code == 200 and response.json()["database"] == "ok", response.text
    assert code == 0, f"ruta serve exited with {code}"

    # The outage was logged in a few lines; no worker was started again; no traceback storm.
    started = [r for r in records if str(r.get("message", "")).startswith("Started server process")]
    assert len(started) == WORKERS, f"workers started {len(started)} times (a crash loop?)\n{summary}"
    problems, tracebacks = _log_problems(records)
    assert problems, "the outage was not logged"
    assert len(problems) <= LOG_LINES_ALLOWED + LOG_LINES_PER_FAILURE * refused, summary
    assert len(tracebacks) <= TRACEBACKS_ALLOWED, summary


def _delivery_status(attempt: PushAttempt) -> str:
    """A webhook delivery's HTTP status, or the name of the error of a failed connection."""
    if attempt.status is not None:
        return str(attempt.status)
    return (attempt.error or "").removeprefix("Connection failed: ").partition(":")[0] or "connection"


def _difference(person: Person, want: list[str], got: list[str]) -> str:
    """What is wrong with a person's transcript ("" when it is the reference)."""
    if got == want:
        return ""
    extra, missing = Counter(got) - Counter(want), Counter(want) - Counter(got)
    if not extra and not missing:
        return f"{person}: every reply once, out of order"
    return (
        f"{person}: {len(got)} messages, {len(want)} expected: {sum(extra.values())} more than once (duplicated), "
        f"{sum(missing.values())} missing"
    )


def _log_problems(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The log lines at warning level or above (or not JSON), and those carrying an exception or a traceback."""
    problems = [r for r in records if r.get("level") in ("warning", "error", "critical") or "raw" in r]
    tracebacks = [r for r in records if "exception" in r or "Traceback" in str(r.get("raw", ""))]
    return problems, tracebacks


def _summary(mode: str, observed: Observed, telegram: Counter[str], records: list[dict[str, Any]]) -> str:
    """One paragraph for the test's output: what the clients saw and what the server logged."""
    lines = [f"pg_ctl restart -m {mode}"]
    if observed.restart_started is not None and observed.restart_ended is not None:
        started, ended = observed.restart_started, observed.restart_ended
        lines.append(f"restart took {ended - started:.2f} s")
        refused = [t for t in observed.failures if t >= started]
        if refused:
            lines.append(f"WhatsApp refused from {min(refused) - started:.2f} s to {max(refused) - started:.2f} s")
        after = [t for t in observed.successes if t >= ended]
        if after:
            lines.append(f"first 200 on WhatsApp {min(after) - ended:.2f} s after the restart ended")
    lines.append(f"WhatsApp posts {dict(observed.whatsapp)}, Telegram deliveries {dict(telegram)}")
    problems, tracebacks = _log_problems(records)
    events = Counter(
        f"{r.get('level', 'raw')} {r.get('event') or str(r.get('message') or r.get('raw', ''))[:60]}" for r in problems
    )
    listed = "; ".join(f"{count} x {event}" for event, count in events.most_common(12))
    lines.append(
        f"log: {len(records)} lines, {len(problems)} warnings or worse, {len(tracebacks)} tracebacks: {listed}"
    )
    return "\n".join(lines)


def test_a_reply_delivered_while_postgresql_is_away_is_not_sent_again(
    postgres_server: PostgresServer, database: str
) -> None:
    """The sender delivered a reply, and the database went away before the row could be deleted: the row is not
    claimed again once the database is back (that would send the reply twice), it is deleted."""
    store = Store(database)
    try:
        reply: dict[str, Any] = {"text": "hola", "buttons": [], "diagnosis": None}
        store.commit_turn("k", "telegram", store.load_conversation("k"), {"phase": "form"}, [reply], address="a")
        queue = OutboxQueue(store, lease_seconds=0)  # the lease is over at once: nothing else keeps the row
        [[row]] = queue.claim("telegram", 10, set())
        with postgres_stopped(postgres_server), pytest.raises(OperationalError):
            queue.delivered([row.id])  # sent, but the database is away
        claimed = queue.claim("telegram", 10, set())
        assert claimed == [], "a reply delivered while PostgreSQL was away was claimed again (it would be sent twice)"
        assert store.undelivered() == []
    finally:
        store.close()
