"""Issue 15: replies survive a restart. Over real HTTP against the fake Graph and Bot APIs: replies wait in the
outbox while the service fails and go out after a restart, once each and in order; a message delivered again
after a restart is not answered again; one chat's order holds under a burst while the service is slow; and
`ruta telegram` stops within seconds on SIGTERM (or dies on SIGKILL) without losing a committed reply."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.exc import OperationalError

from bot.storage import Store
from tests.channels.telegram_harness import QUIET
from tests.channels.test_serve import (
    APP_SECRET,
    WA_USER,
    _free_port,
    _post,
    _settings,
    _texts,
    _whatsapp_settings,
    served,
)
from tests.fakes.graph_api import FakeGraphApi, text_message
from tests.fakes.rasa_server import FakeRasa
from tests.fakes.telegram_api import FakeBotApi
from tests.ruta_process import RUTA, ruta_env, until_healthy

FAST_STOP = {"outbox_flush_seconds": 0.5}
SCRIPT = ["hola", "si", "Copiapó", "hago pan amasado", "Sí, ya vendo"]


def _settings_for(graph: FakeGraphApi) -> Any:
    return _settings(**_whatsapp_settings(graph).model_dump(exclude_unset=True), **FAST_STOP)


async def _healthy_transcript(graph: FakeGraphApi, nlu: Any, database: Path, texts: list[str]) -> list[Any]:
    """What a healthy run sends for `texts` (another person, another database)."""
    async with served(_settings_for(graph), nlu, database) as (_, client):
        for text in texts:
            before = len(graph.sent("56900000000"))
            assert (await _post(client, text_message("56900000000", text))).status_code == 200
            await graph.wait_for("56900000000", before + 1)
            await asyncio.sleep(QUIET)
    return graph.sent("56900000000")


async def test_replies_wait_while_the_service_fails_and_go_out_after_a_restart(graph, embedded_nlu, tmp_path):
    expected = await _healthy_transcript(graph, embedded_nlu, tmp_path / "healthy.sqlite3", SCRIPT[:2])
    database = tmp_path / "db.sqlite3"
    graph.fail_next(times=10_000, status=500)
    async with served(_settings_for(graph), embedded_nlu, database) as (_, client):
        for text in SCRIPT[:2]:
            assert (await _post(client, text_message(WA_USER, text))).status_code == 200
        while graph.injected_failures == 0:
            await asyncio.sleep(0.02)
        health = (await client.get("/healthz")).json()["outbox"]
    assert health["depth"] >= 3 and health["oldest_seconds"] is not None
    assert graph.sent(WA_USER) == []
    graph.heal()
    async with served(_settings_for(graph), embedded_nlu, database):
        await graph.wait_for(WA_USER, len(expected))
        await asyncio.sleep(QUIET)
    assert _texts(graph.sent(WA_USER)) == _texts(expected)  # once each, in order
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


async def test_a_message_delivered_again_after_a_restart_is_not_answered_again(graph, embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    message = text_message(WA_USER, "hola")
    async with served(_settings_for(graph), embedded_nlu, database) as (_, client):
        assert (await _post(client, message)).status_code == 200
        await graph.wait_for(WA_USER, 1)
        await asyncio.sleep(QUIET)
    answered = len(graph.sent(WA_USER))
    async with served(_settings_for(graph), embedded_nlu, database) as (_, client):
        assert (await _post(client, message)).status_code == 200
        await asyncio.sleep(QUIET * 3)
    assert len(graph.sent(WA_USER)) == answered


async def test_one_chats_order_holds_under_a_burst_while_the_service_is_slow(graph, embedded_nlu, tmp_path):
    burst = [*SCRIPT, *(f"pregunta {n}: ¿qué es el RSH?" for n in range(15))]
    expected = await _healthy_transcript(graph, embedded_nlu, tmp_path / "healthy.sqlite3", burst)
    graph.latency = 0.02
    async with served(_settings_for(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        for text in burst:  # each acknowledged once committed, long before its replies go out
            assert (await _post(client, text_message(WA_USER, text))).status_code == 200
        await graph.wait_for(WA_USER, len(expected), timeout=60)
        await asyncio.sleep(QUIET)
    assert _texts(graph.sent(WA_USER)) == _texts(expected)


def _telegram(fake: FakeBotApi, home: Path, **settings: str) -> subprocess.Popen[str]:
    env = ruta_env(home, RUTA_TELEGRAM_TOKEN=fake.token, RUTA_TELEGRAM_BASE_URL=fake.base_url, **settings)
    env["RUTA_OUTBOX_LEASE_SECONDS"] = "3"  # a killed bot's claims run out sooner than the default 20 s
    return subprocess.Popen([str(RUTA), "telegram"], env=env, cwd=home, stderr=subprocess.PIPE, text=True)


async def _stop(bot: subprocess.Popen[str], signum: int, twice: bool = False) -> tuple[float, str]:
    """Signal the bot (`twice`: again 0.3 s later); the seconds it took to exit, and its log."""
    started = time.perf_counter()
    bot.send_signal(signum)
    if twice:
        await asyncio.sleep(0.3)
        bot.send_signal(signum)
    _, logs = await asyncio.to_thread(bot.communicate, timeout=60)
    return time.perf_counter() - started, logs


async def _answered_once_after_a_fault(tmp_path: Path, signum: int, twice: bool = False) -> tuple[float, int, str]:
    async with FakeBotApi() as fake:
        bot = _telegram(fake, tmp_path)
        try:
            fake.send_text(9001, "hola")  # a healthy turn first: what the replies should be
            await fake.wait_for_messages(9001, 2, timeout=90)
            await fake.wait_idle(quiet=QUIET)
            fake.set_method_status("sendMessage", 500)
            fake.send_text(9002, "hola")
            while fake.injected_failures["sendMessage"] == 0:
                await asyncio.sleep(0.02)
        finally:
            seconds, logs = await _stop(bot, signum, twice)
        code = bot.returncode
        fake.set_method_status("sendMessage", None)
        bot = _telegram(fake, tmp_path)
        try:
            expected = [message.text for message in fake.bot_messages(9001)]
            await fake.wait_for_messages(9002, len(expected), timeout=90)
            await fake.wait_idle(quiet=QUIET * 2)
            assert [message.text for message in fake.bot_messages(9002)] == expected  # once each, in order
        finally:
            await _stop(bot, signal.SIGTERM)
    return seconds, code, logs


async def test_sigterm_while_the_service_fails_stops_within_seconds_and_loses_nothing(tmp_path):
    seconds, code, logs = await _answered_once_after_a_fault(tmp_path, signal.SIGTERM)
    assert seconds < 10 and code == 0
    assert "Traceback" not in logs


async def test_a_second_sigterm_stops_ruta_telegram_at_once_and_loses_nothing(tmp_path):
    seconds, code, logs = await _answered_once_after_a_fault(tmp_path, signal.SIGTERM, twice=True)
    assert seconds < 2 and code == 0 and "stopped at once" in logs


async def test_sigkill_after_the_commit_and_before_the_send_loses_nothing(tmp_path):
    await _answered_once_after_a_fault(tmp_path, signal.SIGKILL)


async def test_the_outbox_holds_no_chat_id_or_phone_number_in_clear(graph, embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    graph.fail_next(times=10_000, status=500)
    async with served(_settings_for(graph), embedded_nlu, database) as (_, client):
        assert (await _post(client, text_message(WA_USER, "hola"))).status_code == 200
        while graph.injected_failures == 0:
            await asyncio.sleep(0.02)
    with sqlite3.connect(database) as connection:
        dump = "\n".join(connection.iterdump())
        addresses = [row[0] for row in connection.execute("SELECT address FROM outbox")]
    assert addresses and all(address and WA_USER not in address for address in addresses)
    assert WA_USER not in dump and orjson.dumps(WA_USER).decode() not in dump


def _serve(graph: FakeGraphApi, home: Path, port: int) -> subprocess.Popen[str]:
    env = ruta_env(
        home,
        RUTA_WHATSAPP_TOKEN=graph.access_token,
        RUTA_WHATSAPP_PHONE_NUMBER_ID=graph.phone_number_id,
        RUTA_WHATSAPP_APP_SECRET=APP_SECRET,
        RUTA_WHATSAPP_VERIFY_TOKEN="v",
        RUTA_WHATSAPP_API_URL=f"{graph.base_url}/v21.0",
    )
    command = [str(RUTA), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=home, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("twice", [False, True], ids=["sigterm", "sigterm-twice"])
async def test_ruta_serve_on_sigterm_while_sends_fail_exits_within_seconds_and_delivers_after(graph, tmp_path, twice):
    port = _free_port()
    graph.fail_next(times=10_000, status=500)
    server = _serve(graph, tmp_path, port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        try:
            await until_healthy(port, server, timeout=60)
            assert (await _post(client, text_message(WA_USER, "hola"))).status_code == 200
            while graph.injected_failures == 0:
                await asyncio.sleep(0.02)
        finally:
            seconds, logs = await _stop(server, signal.SIGTERM, twice)
        assert seconds < (2 if twice else 10) and server.returncode == 0, logs
        graph.heal()
        server = _serve(graph, tmp_path, port)
        try:
            await graph.wait_for(WA_USER, 2, timeout=120)
            await asyncio.sleep(QUIET)
        finally:
            await _stop(server, signal.SIGTERM)
    assert "Antes de empezar" in _texts(graph.sent(WA_USER)) and len(graph.sent(WA_USER)) == 2


async def test_a_message_whose_turn_could_not_be_stored_gets_503_and_is_answered_once_when_delivered_again(
    graph, embedded_nlu, tmp_path, monkeypatch
):
    real = Store.commit_turn
    failures = iter([OperationalError("INSERT", {}, Exception("database is locked"))])

    def commit_once_failing(self: Store, *args: Any, **kwargs: Any) -> Any:
        if (failure := next(failures, None)) is not None:
            raise failure
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit_turn", commit_once_failing)
    message = text_message(WA_USER, "hola")
    async with served(_settings_for(graph), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        assert (await _post(client, message)).status_code == 503  # nothing stored: Meta delivers it again
        await asyncio.sleep(QUIET)
        assert graph.sent(WA_USER) == []
        assert (await _post(client, message)).status_code == 200
        await graph.wait_for(WA_USER, 2)
        assert (await _post(client, message)).status_code == 200  # and a third time: already answered
        await asyncio.sleep(QUIET * 2)
    assert len(graph.sent(WA_USER)) == 2 and "Antes de empezar" in _texts(graph.sent(WA_USER))


async def test_a_send_whose_answer_was_lost_is_not_sent_again_once_whatsapp_says_it_has_it(
    graph, embedded_nlu, tmp_path
):
    """The Graph API takes each message but answers after the bot stopped waiting (a ReadTimeout): the status
    webhook carrying the message's tag back tells the retry it got there, so the person reads it once."""
    expected = await _healthy_transcript(graph, embedded_nlu, tmp_path / "healthy.sqlite3", SCRIPT[:2])
    settings = _settings_for(graph).model_copy(update={"whatsapp_timeout": 0.3})
    async with served(settings, embedded_nlu, tmp_path / "db.sqlite3") as (server, client):
        graph.status_webhook, graph.app_secret = f"{server.url}/whatsapp", APP_SECRET
        graph.latency = 0.6  # answered after the bot's 0.3 s, but taken
        for text in SCRIPT[:2]:
            assert (await _post(client, text_message(WA_USER, text))).status_code == 200
        await graph.wait_for(WA_USER, len(expected), timeout=30)
        graph.latency = 0.0
        deadline = time.monotonic() + 30
        while (await client.get("/healthz")).json()["outbox"]["depth"]:  # every retry found its receipt
            assert time.monotonic() < deadline, "the outbox never emptied"
            await asyncio.sleep(0.2)
    assert graph.statuses_posted >= len(expected)
    assert _texts(graph.sent(WA_USER)) == _texts(expected)  # once each, in order
    tags = [m["biz_opaque_callback_data"] for m in graph.sent(WA_USER)]
    assert len(set(tags)) == len(tags)


async def test_without_a_receipt_a_send_whose_answer_was_lost_is_sent_again(graph, embedded_nlu, tmp_path):
    """No status webhook came (it is not configured, or Meta did not take the message): the retry sends it."""
    settings = _settings_for(graph).model_copy(update={"whatsapp_timeout": 0.3})
    async with served(settings, embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        graph.latency = 0.6
        assert (await _post(client, text_message(WA_USER, "hola"))).status_code == 200
        await graph.wait_for(WA_USER, 1, timeout=10)
        graph.latency = 0.0
        await graph.wait_for(WA_USER, 2, timeout=30)  # the same message again, after RECEIPT_WAIT_SECONDS
    first, second = graph.sent(WA_USER)[:2]
    assert first == second


async def test_sigkill_of_ruta_telegram_mid_turn_gets_the_update_again_and_answers_it_once(embedded_nlu, tmp_path):
    """Long polling: the getUpdates offset moves past an update only once its turn is committed, so an update
    whose turn was cut by `kill -9` (waiting on the NLU) is fetched again by the next start and answered once."""
    with FakeRasa(embedded_nlu) as rasa:
        async with FakeBotApi() as fake:
            env = {"RUTA_NLU_BACKEND": "rasa", "RUTA_RASA_URL": rasa.url, "RUTA_RASA_TIMEOUT": "60"}
            bot = _telegram(fake, tmp_path, **env)
            try:
                fake.send_text(9001, "hola")  # a healthy turn first: what the replies should be
                await fake.wait_for_messages(9001, 2, timeout=90)
                await fake.wait_idle(quiet=QUIET)
                parses = rasa.requests["/model/parse"]
                rasa.hold()
                fake.send_text(9002, "hola")
                deadline = time.monotonic() + 60
                while rasa.requests["/model/parse"] == parses:  # the turn is in the middle
                    assert time.monotonic() < deadline, "the turn never asked the NLU"
                    await asyncio.sleep(0.02)
            finally:
                await _stop(bot, signal.SIGKILL)
            rasa.release()
            assert fake.bot_messages(9002) == []
            bot = _telegram(fake, tmp_path, **env)
            try:
                expected = [message.text for message in fake.bot_messages(9001)]
                await fake.wait_for_messages(9002, len(expected), timeout=90)
                await fake.wait_idle(quiet=QUIET * 2)
                assert [message.text for message in fake.bot_messages(9002)] == expected  # once each
            finally:
                await _stop(bot, signal.SIGTERM)
