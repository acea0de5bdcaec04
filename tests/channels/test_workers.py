"""Issue 12: several `ruta serve` workers on one PostgreSQL database, as a load balancer would use them.

Two real `ruta serve` processes on two ports share a throw-away PostgreSQL database, the fake Graph API (WhatsApp)
and a fake Rasa that takes a while to parse (so turns overlap and queue). Each test compares what people got with
what one person got writing one message at a time:

- bursts: people send a whole diagnosis while their turns are held up, alternating workers, without waiting for
  the bot; every chat gets the same replies, once each and in the same order (one chat's turns one at a time, in
  the order its messages reached the service, whichever worker took them);
- `kill -9` of a worker in the middle of a turn: WhatsApp delivers the message again to the other worker, it is
  answered exactly once, and no earlier answer is lost; delivered once more to a restarted worker, it is not
  answered again.
"""

from __future__ import annotations

import asyncio
import difflib
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from nlu.parse import NluBackend
from tests.channels.test_serve import APP_SECRET, VERIFY_TOKEN, _free_port, _texts
from tests.fakes.graph_api import FakeGraphApi, sign, text_message
from tests.fakes.rasa_server import FakeRasa
from tests.postgres import PostgresServer
from tests.ruta_process import RUTA, ruta_env, until_healthy

pytestmark = pytest.mark.postgresql

PARSE_SECONDS = 0.05  # the fake Rasa's time per parse (a real one takes about that)
SETTLED = 1.0  # no new reply for this long: the bot has said all it will say to a message
DIAGNOSIS = [  # panaderia_copiapo of tests/channels/scripts.yml, buttons typed; free text goes to the NLU
    "hola",
    "Sí, sigamos",
    "tengo una panadería en Copiapó",
    "Sí, ya vendo",
    "hace 3 años",
    "vendo como 2 millones al mes",
    "2 a 4",
    "No",
    "En mi casa",
    "a veces me sobra",
    "No",
    "necesito plata para un horno",
    "Mujer",
    "tengo 47",
    "40%",
]
FREE_TEXT = 5  # "vendo como 2 millones al mes": its turn asks the NLU


@dataclass
class Workers:
    """`ruta serve` processes on one database, each on its own port (a balancer's upstreams)."""

    home: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def spawn(self, number: int, port: int | None = None) -> None:
        port = port or _free_port()
        log = (self.home / f"serve-{number}.log").open("ab")
        command = [str(RUTA), "serve", "--port", str(port), "--log-level", "WARNING"]
        process = subprocess.Popen(command, env=self.env, cwd=self.home, stderr=log)
        if number < len(self.processes):
            self.processes[number], self.ports[number] = process, port
        else:
            self.processes.append(process)
            self.ports.append(port)

    async def healthy(self, number: int) -> None:
        await until_healthy(self.ports[number], self.processes[number], log=lambda: self.log(number))

    def log(self, number: int) -> str:
        return (self.home / f"serve-{number}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


@pytest.fixture
def rasa(embedded_nlu: NluBackend) -> Iterator[FakeRasa]:
    with FakeRasa(embedded_nlu) as fake:
        fake.latency = PARSE_SECONDS
        yield fake


@pytest.fixture
async def workers(tmp_path: Path, database: str, graph: FakeGraphApi, rasa: FakeRasa) -> AsyncIterator[Workers]:
    env = ruta_env(
        tmp_path,
        RUTA_DATABASE_URL=database,
        RUTA_PSEUDONYM_KEY="k" * 32,
        RUTA_NLU_BACKEND="rasa",
        RUTA_RASA_URL=rasa.url,
        RUTA_RASA_TIMEOUT="60",
        RUTA_WHATSAPP_TOKEN=graph.access_token,
        RUTA_WHATSAPP_PHONE_NUMBER_ID=graph.phone_number_id,
        RUTA_WHATSAPP_APP_SECRET=APP_SECRET,
        RUTA_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        RUTA_WHATSAPP_API_URL=f"{graph.base_url}/v21.0",
        RUTA_OUTBOX_LEASE_SECONDS="3",
    )
    running = Workers(tmp_path, env)
    try:
        running.spawn(0)  # the first one creates the schema; the second starts on it
        await running.healthy(0)
        running.spawn(1)
        await running.healthy(1)
        yield running
    finally:
        await asyncio.to_thread(running.stop)


async def _deliver(client: httpx.AsyncClient, port: int, wa_id: str, text: str, message_id: str) -> int:
    """POST one signed webhook as the Graph API does; the status (0: no answer, the connection died)."""
    body = orjson.dumps(text_message(wa_id, text, message_id=message_id))
    headers = {"X-Hub-Signature-256": sign(body, APP_SECRET)}
    try:
        response = await client.post(f"http://127.0.0.1:{port}/whatsapp", content=body, headers=headers)
    except httpx.TransportError:
        return 0
    return response.status_code


async def _settled(graph: FakeGraphApi, wa_id: str, at_least: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The person's messages once there are `at_least` and no new one came for SETTLED seconds."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(graph.sent(wa_id))
        if now != count:
            count, since = now, time.monotonic()
        elif count >= at_least and time.monotonic() - since >= SETTLED:
            return graph.sent(wa_id)
        await asyncio.sleep(0.05)
    return graph.sent(wa_id)


async def _one_at_a_time(client: httpx.AsyncClient, graph: FakeGraphApi, ports: list[int], wa_id: str) -> str:
    """A whole diagnosis, each message sent once the bot has answered the previous one; the transcript."""
    for number, message in enumerate(DIAGNOSIS):
        before = len(graph.sent(wa_id))
        assert await _deliver(client, ports[number % 2], wa_id, message, f"{wa_id}-{number}") == 200
        await _settled(graph, wa_id, before + 1)
    transcript = _texts(graph.sent(wa_id))
    assert "Tu ruta, paso a paso" in transcript
    return transcript


def _places_taken(database: str) -> int:
    """How many messages have taken their place in their chat's line (bot/channels/turns.py), in all chats."""
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT coalesce(sum(issued), 0) FROM turn_order")).scalar_one())
    finally:
        engine.dispose()


async def _arrived(database: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _places_taken(database) < count:
        assert time.monotonic() < deadline, f"{count} messages did not reach the workers"
        await asyncio.sleep(0.01)


async def test_bursts_across_two_workers_keep_each_chats_order(
    workers: Workers, graph: FakeGraphApi, rasa: FakeRasa, database: str
) -> None:
    """Three people write their whole diagnosis while their first turns are held in the middle (the NLU does not
    answer): each message reaches a worker (alternating) once the one before has, so a chat's messages queue on
    both workers at once. Released, every chat must read as if written one message at a time."""
    people = [f"5691000000{n}" for n in range(3)]
    async with httpx.AsyncClient(timeout=120) as client:
        expected = await _one_at_a_time(client, graph, workers.ports, "56900000001")
        arrived = _places_taken(database)
        rasa.hold()
        posts = []
        for number, message in enumerate(DIAGNOSIS):
            for wa_id in people:
                port = workers.ports[(number + people.index(wa_id)) % 2]
                posts.append(asyncio.create_task(_deliver(client, port, wa_id, message, f"{wa_id}-{number}")))
                arrived += 1
                await _arrived(database, arrived)
        rasa.release()
        statuses = await asyncio.gather(*posts)
        assert all(status == 200 for status in statuses), statuses
        length = len(graph.sent("56900000001"))
        got = {wa_id: _texts(await _settled(graph, wa_id, length)) for wa_id in people}
    for wa_id in people:
        difference = "\n".join(difflib.unified_diff(expected.splitlines(), got[wa_id].splitlines(), lineterm=""))
        assert got[wa_id] == expected, f"{wa_id}'s transcript differs from one message at a time:\n{difference}"


async def test_a_worker_killed_mid_turn_answers_the_message_once_after_redelivery(
    workers: Workers, graph: FakeGraphApi, rasa: FakeRasa
) -> None:
    person, cut = "56920000001", FREE_TEXT
    async with httpx.AsyncClient(timeout=120) as client:
        expected = await _one_at_a_time(client, graph, workers.ports, "56900000002")
        for number, text in enumerate(DIAGNOSIS[:cut]):
            before = len(graph.sent(person))
            assert await _deliver(client, workers.ports[number % 2], person, text, f"{person}-{number}") == 200
            await _settled(graph, person, before + 1)
        answered = len(graph.sent(person))
        parses = rasa.requests["/model/parse"]
        rasa.hold()  # the turn of the next message waits on the NLU, inside its transaction
        killed = asyncio.create_task(_deliver(client, workers.ports[0], person, DIAGNOSIS[cut], f"{person}-{cut}"))
        deadline = time.monotonic() + 30
        while rasa.requests["/model/parse"] == parses:  # the turn is in the middle, its transaction open
            assert time.monotonic() < deadline, "the turn never asked the NLU"
            await asyncio.sleep(0.01)
        workers.processes[0].send_signal(signal.SIGKILL)
        assert await killed == 0  # no answer: WhatsApp will deliver it again
        rasa.release()
        assert len(graph.sent(person)) == answered
        # delivered again, to the worker still up
        assert await _deliver(client, workers.ports[1], person, DIAGNOSIS[cut], f"{person}-{cut}") == 200
        await _settled(graph, person, answered + 1)
        workers.spawn(0, workers.ports[0])
        await workers.healthy(0)
        # and once more, to the restarted worker: taken before, not answered again
        assert await _deliver(client, workers.ports[0], person, DIAGNOSIS[cut], f"{person}-{cut}") == 200
        for number in range(cut + 1, len(DIAGNOSIS)):
            before = len(graph.sent(person))
            assert await _deliver(client, workers.ports[number % 2], person, DIAGNOSIS[number], f"{person}-{number}")
            await _settled(graph, person, before + 1)
        got = _texts(graph.sent(person))
    assert got == expected
    assert "turn_overdue" in workers.log(1)  # the killed turn's place was passed over, not waited for ever


async def test_places_lost_with_a_worker_are_passed_over_by_the_first_message_behind_them(
    database: str, embedded_nlu: NluBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Places 1 and 2 were taken by messages whose worker died; 3 and 4 wait. The line moves for 3 first (after
    two waits of TURN_WAIT_SECONDS), and 4 follows it rather than passing it."""
    from bot.channels import turns
    from bot.channels.turns import ChannelEngine
    from tests.test_conversations import make_engine

    monkeypatch.setattr(turns, "TURN_WAIT_SECONDS", 0.3)
    channel = ChannelEngine(make_engine(embedded_nlu, database), "whatsapp")
    store, key = channel.engine.store, "a-pseudonym"
    places = [store.take_ticket(key) for _ in range(4)]
    assert places == [(1, 0), (2, 0), (3, 0), (4, 0)]
    passed: list[int] = []

    async def waits(place: int) -> None:
        await channel._wait_for_turn(key, place, 0)
        passed.append(place)
        if place == 3:
            store.pass_turn(key, 3)  # its turn, taken

    await asyncio.wait_for(asyncio.gather(waits(4), waits(3)), timeout=30)  # before: both waited for ever
    channel.close()
    assert passed == [3, 4] and store.served(key) == 3
