"""Issue 12: a read-only database and a full disk on SQLite, on every door that writes (`ruta chat`, the WhatsApp
webhook of `ruta serve`, Telegram long polling, the outbox sender).

Each door keeps going: the console answers with the kind reply and the pending question, the webhook answers 503
(Meta delivers the message again) while /healthz names the problem, long polling asks for the update again later
and later, the sender backs off instead of claiming on every wake. One log line names the condition
(`database_unwritable`, reason "read-only" or "disk full"), none per message; once it clears, the next message
is answered and nothing answered before is lost.

The conditions are real where the tests may mount file systems (root, as in this project's containers): the
database lives on a tmpfs of its own, filled up by a file for "disk full"; for "read-only" the folder is bind
mounted read-only over itself and the engine's pooled connections are closed (a connection already open keeps
its write access, as on any Unix file system: the condition is met by the next connection SQLite opens).
Elsewhere (or with RUTA_FAULTS_INJECTED=1) the same failures are injected: SQLite's own exception raised for
every write statement.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event

from bot.channels import sender as sender_module
from bot.console import run_json
from bot.database_health import DISK_FULL, READ_ONLY, unwritable
from bot.engine import Engine
from bot.outbox import OutboxQueue
from bot.serve import create_app
from bot.storage import Store
from tests.channels.telegram_harness import TelegramUser, polling_bot
from tests.channels.test_serve import WA_USER, WhatsAppUser, _post, _whatsapp_settings
from tests.fakes.graph_api import FakeGraphApi, text_message
from tests.fakes.server import LocalServer
from tests.fakes.telegram_api import FakeBotApi
from tests.test_conversations import make_engine
from tests.test_outbox_sender import CIPHER, Transport, _queue

TODAY = date(2026, 3, 10)
KIND = "Tuve un problema con ese mensaje"
MESSAGES = {READ_ONLY: "attempt to write a readonly database", DISK_FULL: "database or disk is full"}
PER_MESSAGE_EVENTS = {"turn_failed", "whatsapp_unavailable", "telegram_unavailable", "outbox_error", "reminders_error"}


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


class Fault:
    """A database folder where "read-only" or "disk full" can start and clear: real on a tmpfs, else injected."""

    def __init__(self, reason: str, folder: Path) -> None:
        self.reason, self.folder = reason, folder
        self.database = folder / "ruta.sqlite3"
        self.real = _mounted_tmpfs(folder)
        self._filler = folder / "filler"

    def start(self, store: Store) -> None:
        if not self.real:
            event.listen(store.engine, "before_cursor_execute", self._refuse_writes)
        elif self.reason == DISK_FULL:
            _fill(self._filler)
        else:
            _run("mount", "--bind", str(self.folder), str(self.folder))
            _run("mount", "-o", "remount,ro,bind", str(self.folder))
            store.engine.dispose()

    def clear(self, store: Store) -> None:
        if not self.real:
            event.remove(store.engine, "before_cursor_execute", self._refuse_writes)
        elif self.reason == DISK_FULL:
            self._filler.unlink()
        else:
            _run("umount", "--lazy", str(self.folder))  # connections opened read-only keep it until closed

    def _refuse_writes(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError(MESSAGES[self.reason])

    def unmount(self) -> None:
        while self.real and os.path.ismount(self.folder):
            _run("umount", "--lazy", str(self.folder))


def _mounted_tmpfs(folder: Path) -> bool:
    """Mount a 4 MB tmpfs on `folder`; False where this process may not mount (or RUTA_FAULTS_INJECTED is set)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RUTA_FAULTS_INJECTED"):
        return False
    try:
        _run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder))
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _fill(path: Path) -> None:
    """Write `path` until the file system has no byte left."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    os.write(descriptor, b"x" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(descriptor)


@pytest.fixture(params=[READ_ONLY, DISK_FULL])
def fault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fault]:
    made = Fault(request.param, tmp_path / "db")
    try:
        yield made
    finally:
        made.unmount()


@pytest.fixture
def faults_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    caplog.set_level(logging.INFO)
    return lambda: [record for record in caplog.records if hasattr(record, "event")]


def _check_log(records: list[logging.LogRecord], reason: str, cleared: bool = True) -> None:
    """One line names the condition, one says it cleared; no line (nor traceback) per message."""
    events = [(record.event, getattr(record, "reason", None)) for record in records]  # type: ignore[attr-defined]
    assert events.count(("database_unwritable", reason)) == 1, events
    assert [name for name, _ in events if name == "database_unwritable"] == ["database_unwritable"]
    assert events.count(("database_writable", reason)) == (1 if cleared else 0), events
    assert not [name for name, _ in events if name in PER_MESSAGE_EVENTS], events
    assert not [record for record in records if record.exc_info], "no traceback"


def test_the_conditions_are_named_from_sqlite_and_postgresql_errors() -> None:
    assert unwritable(sqlite3.OperationalError(MESSAGES[READ_ONLY])) == READ_ONLY
    assert unwritable(sqlite3.OperationalError(MESSAGES[DISK_FULL])) == DISK_FULL
    assert unwritable(sqlite3.OperationalError("database is locked")) is None

    class PgError(Exception):
        sqlstate = "53100"

    assert unwritable(PgError("could not extend file")) == DISK_FULL


# `ruta chat --json`: one line in, one line of replies out, the conversation goes on.


class ScriptedInput:
    """Lines for `run_json`; a callable in the script runs before the next line is read (a fault starts…)."""

    def __init__(self, script: list[str | Callable[[], None]]) -> None:
        self.script = list(script)

    def readline(self) -> str:
        while self.script:
            step = self.script.pop(0)
            if isinstance(step, str):
                return step + "\n"
            step()
        return ""


def test_the_console_answers_kindly_and_the_conversation_goes_on(fault, embedded_nlu, capsys, faults_log):
    engine = make_engine(embedded_nlu, fault.database)
    key = engine.user_key("console", "rosa")
    states: list[Any] = []

    def keep_state() -> None:
        states.append(engine.store.load_state(key))

    script: list[str | Callable[[], None]] = ["hola", "si", "Caldera", keep_state, lambda: fault.start(engine.store)]
    script += ["Turismo", "Turismo", keep_state, lambda: fault.clear(engine.store), "Turismo"]
    run_json(engine, ScriptedInput(script), "rosa", TODAY, fault.folder / "documentos")  # type: ignore[arg-type]
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert len(answers) == 6
    for kind in answers[3:5]:  # the kind reply, then the question still pending (the sector), with its buttons
        assert KIND in kind[0]["text"] and kind[-1]["buttons"]
    assert not any(KIND in reply["text"] for reply in answers[5])
    assert states[0] == states[1]  # nothing written while it could not be
    slots = engine.store.load_state(key)["slots"]
    assert slots["commune"] == "caldera" and slots["sector"] == "turismo"
    assert engine.store.health.problem is None
    _check_log(faults_log(), fault.reason)
    engine.store.close()


# `ruta serve`: the WhatsApp webhook answers 503 (Meta delivers again) and /healthz names the problem.


@asynccontextmanager
async def _serving(graph: FakeGraphApi, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    server = LocalServer(create_app(_whatsapp_settings(graph), engine), lifespan="on")
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def test_the_whatsapp_webhook_answers_503_until_the_database_can_be_written(fault, embedded_nlu, faults_log):
    engine = make_engine(embedded_nlu, fault.database)
    async with FakeGraphApi() as graph, _serving(graph, engine) as client:
        user = WhatsAppUser(graph, client)
        await user.says("hola")
        await user.chooses("Sí, sigamos")
        answered = len(graph.sent(WA_USER))
        fault.start(engine.store)
        caldera = text_message(WA_USER, "Caldera")
        for _ in range(3):  # Meta's deliveries of one message
            assert (await _post(client, caldera)).status_code == 503
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == fault.reason
        assert health.json()["outbox"]["depth"] == 0  # reads still served
        fault.clear(engine.store)
        assert (await _post(client, caldera)).status_code == 200
        await graph.wait_for(WA_USER, answered + 1)
        assert (await _post(client, caldera)).status_code == 200  # delivered again: answered once
        assert (await client.get("/healthz")).json()["database"] == "ok"
        await asyncio.sleep(0.3)
        sent = graph.sent(WA_USER)
    assert len(sent) > answered and not any(KIND in orjson.dumps(message).decode() for message in sent)
    slots = engine.store.load_state(engine.user_key("whatsapp", WA_USER))["slots"]
    assert slots["commune"] == "caldera"  # the answer of the message delivered again
    _check_log(faults_log(), fault.reason)
    engine.store.close()


# Telegram long polling: the update is not confirmed, and is asked for again later and later.


async def test_long_polling_asks_again_for_an_update_that_could_not_be_stored(fault, embedded_nlu, faults_log):
    async with FakeBotApi() as fake, polling_bot(fake, embedded_nlu, fault.database) as channel:
        store = channel.engine.store
        user = TelegramUser(fake, 7001)
        await user.says("hola")
        await user.says("si")
        answered = len(user.messages)
        updates = _count_calls(fake, "getUpdates")
        fault.start(store)
        fake.send_text(7001, "Caldera")
        await asyncio.sleep(2.0)
        assert len(user.messages) == answered  # not answered, not confirmed
        assert updates() <= 4  # asked for again after 1 s, then 2 s: not in a loop
        fault.clear(store)
        await fake.wait_for_messages(7001, answered + 1, timeout=10)
        await fake.wait_idle(quiet=0.3)
        later = user.messages[answered:]
        assert later and not any(KIND in message.text for message in later)
        assert store.load_state(channel.engine.user_key("telegram", "7001"))["slots"]["commune"] == "caldera"
    _check_log(faults_log(), fault.reason)


def _count_calls(fake: FakeBotApi, method: str) -> Callable[[], int]:
    start = len(fake.calls)
    return lambda: sum(1 for name, _ in fake.calls[start:] if name == method)


# The outbox sender: it backs off while the leases cannot be written, then delivers every reply once.


async def test_the_sender_backs_off_and_then_delivers_every_reply_once(fault, monkeypatch, faults_log):
    monkeypatch.setattr(sender_module, "POLL_SECONDS", 0.1)  # backoff 0.1 s, 0.2 s, 0.4 s…
    store = Store(f"sqlite:///{fault.database}")
    _queue(store, "k1", "7001", "uno", "dos")
    transport = Transport()
    sender = sender_module.OutboxSender(OutboxQueue(store), CIPHER, "telegram", transport)
    claims = _count_claims(sender)
    fault.start(store)
    sender.start()
    for _ in range(30):  # a webhook's wake on every incoming message, for 1.5 s
        sender.wake()
        await asyncio.sleep(0.05)
    assert transport.sent == [] and claims() <= 5  # 0.1 + 0.2 + 0.4 + 0.8 s: not one claim per wake
    fault.clear(store)
    assert await sender.flush(5)
    await sender.stop()
    assert transport.sent == [("7001", "uno"), ("7001", "dos")]
    _check_log(faults_log(), fault.reason)
    store.close()


def _count_claims(sender: sender_module.OutboxSender) -> Callable[[], int]:
    calls: list[int] = []
    claim = sender.queue.claim

    def counted(*args: Any) -> Any:
        calls.append(1)
        return claim(*args)

    sender.queue.claim = counted  # type: ignore[method-assign]
    return lambda: len(calls)
