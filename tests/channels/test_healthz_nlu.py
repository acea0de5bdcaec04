"""`GET /healthz` names the NLU backend parsing now: Rasa, or the embedded one while Rasa's breaker is open."""

from __future__ import annotations

import asyncio
import time

from nlu.parse import NluBackend
from nlu.rasa_backend import RasaNlu
from tests.channels.test_serve import _settings, served
from tests.fakes.rasa_server import FakeRasa


async def test_healthz_shows_the_backend_in_use_and_the_breaker(embedded_nlu: NluBackend, tmp_path) -> None:
    with FakeRasa(embedded_nlu, mode="error") as fake:
        nlu = RasaNlu(fake.url, 1.0, fallback=embedded_nlu, breaker_failures=2, breaker_cooldown=0.2)
        try:
            async with served(_settings(), nlu, tmp_path / "db.sqlite3") as (_, client):
                before = (await client.get("/healthz")).json()["nlu"]
                for text in ["vendo empanadas", "en copiapo"]:
                    nlu.parse(text)
                down = (await client.get("/healthz")).json()["nlu"]
                fake.mode = "rasa"
                deadline = time.monotonic() + 10
                while nlu.breaker.state == "open" and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                nlu.parse("vendo empanadas")
                back = (await client.get("/healthz")).json()["nlu"]
        finally:
            nlu.close()
    assert before == {"configured": "rasa", "backend": "rasa", "breaker": "closed"}
    assert down == {"configured": "rasa", "backend": "embedded", "breaker": "open"}
    assert back == before


async def test_healthz_with_the_embedded_backend(embedded_nlu: NluBackend, tmp_path) -> None:
    async with served(_settings(), embedded_nlu, tmp_path / "db.sqlite3") as (_, client):
        health = (await client.get("/healthz")).json()
    assert health["nlu"] == {"configured": "embedded", "backend": "embedded"}
