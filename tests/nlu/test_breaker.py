"""The Rasa backend's circuit breaker against a fake Rasa over real HTTP: hung, 500, a closed port, then back.

Times are measured with generous bounds only to show that an open breaker does not wait on Rasa (a turn then takes
the embedded NLU's milliseconds, not RUTA_RASA_TIMEOUT); the figures are bench/nlu_breaker_bench.py's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.logs import JsonFormatter
from bot.replies import Reply
from nlu.breaker import CircuitBreaker
from nlu.parse import NluBackend
from nlu.rasa_backend import RasaNlu
from tests.fakes.rasa_server import FakeRasa, Mode, closed_port
from tests.test_conversations import make_engine

TIMEOUT = 1.0  # the client's timeout: what every turn waited on a hung Rasa before the breaker
COOLDOWN = 0.3
FAILURES = 3
FAST = 0.5  # generous bound for a parse or a turn once the breaker is open (the embedded NLU takes ~1 ms)
TEXTS = ["tengo un almacen en vallenar", "vendo como 800 lucas al mes", "en mi casa", "necesito plata"]
DOWN: list[str] = ["hang", "error", "closed"]
BUTTON_TITLES = {"si", "Mujer"}  # a typed button title is the button's payload: the engine asks no NLU


@contextmanager
def rasa_down(nlu: NluBackend, how: str) -> Iterator[tuple[FakeRasa, Callable[[], None]]]:
    """A fake Rasa misbehaving `how` ("hang", "error", or "closed": nothing listens on its port), and a function
    that brings it back, answering as Rasa on the same port."""
    if how == "closed":
        holder, port = closed_port()
        fake = FakeRasa(nlu, port=port)

        def listen() -> None:
            holder.close()
            fake.start()

        try:
            yield fake, listen
        finally:
            holder.close()
            fake.stop()
        return
    mode: Mode = "hang" if how == "hang" else "error"
    with FakeRasa(nlu, mode=mode) as fake:
        yield fake, lambda: setattr(fake, "mode", "rasa")


def rasa_nlu(fake: FakeRasa, embedded: NluBackend) -> RasaNlu:
    return RasaNlu(fake.url, TIMEOUT, fallback=embedded, breaker_failures=FAILURES, breaker_cooldown=COOLDOWN)


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", None) == event]


@pytest.mark.parametrize("how", DOWN)
def test_the_breaker_opens_after_failures_in_a_row_then_parses_embedded_at_once(
    how: str, embedded_nlu: NluBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with rasa_down(embedded_nlu, how) as (fake, _):
        nlu = rasa_nlu(fake, embedded_nlu)
        try:
            for text in TEXTS[:FAILURES]:
                assert nlu.parse(text) == embedded_nlu.parse(text)  # each failure falls back
            assert nlu.breaker.state == "open" and nlu.in_use == "embedded"
            reached = dict(fake.requests)
            slowest = max(timed(lambda text=text: nlu.parse(text)) for text in TEXTS * 5)
            assert slowest < FAST, f"a parse took {slowest:.3f} s with the breaker open"
            assert fake.requests["/model/parse"] == reached["/model/parse"], "no parse reached Rasa while open"
        finally:
            nlu.close()
    assert len(events(caplog, "rasa_parse_failed")) == FAILURES  # not one per message
    changes = events(caplog, "nlu_breaker")
    opened = [(getattr(r, "state", None), getattr(r, "backend", None), r.levelno) for r in changes]
    assert opened == [("open", "embedded", logging.WARNING)]


@pytest.mark.parametrize("how", DOWN)
def test_parses_go_to_rasa_again_when_it_comes_back(
    how: str, embedded_nlu: NluBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with rasa_down(embedded_nlu, how) as (fake, bring_back):
        nlu = rasa_nlu(fake, embedded_nlu)
        try:
            for text in TEXTS[:FAILURES]:
                nlu.parse(text)
            assert nlu.breaker.state == "open"
            bring_back()
            wait_until(lambda: nlu.breaker.state == "half_open", seconds=COOLDOWN * 3 + TIMEOUT * 2 + 5)
            before = fake.requests["/model/parse"]
            assert nlu.parse("vendo empanadas en copiapo")["intent"]["name"] == "inform"
            assert fake.requests["/model/parse"] == before + 1 and nlu.breaker.state == "closed"
            for text in TEXTS:
                nlu.parse(text)
            assert fake.requests["/model/parse"] == before + 1 + len(TEXTS)
            assert nlu.in_use == "rasa" and fake.requests["/status"] >= 1
        finally:
            nlu.close()
    states = [getattr(record, "state", None) for record in events(caplog, "nlu_breaker")]
    assert states == ["open", "half_open", "closed"], "each change of state is logged once"


def test_a_failed_trial_opens_the_breaker_again(embedded_nlu: NluBackend, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with FakeRasa(embedded_nlu, mode="error") as fake:
        nlu = rasa_nlu(fake, embedded_nlu)
        try:
            for text in TEXTS[:FAILURES]:
                nlu.parse(text)
            fake.mode = "status_only"  # /status answers, /model/parse does not
            wait_until(lambda: nlu.breaker.state == "half_open")
            nlu.parse("hola")
            assert nlu.breaker.state == "open"
            fake.mode = "rasa"
            wait_until(lambda: nlu.breaker.state == "half_open")
            nlu.parse("hola")
            assert nlu.breaker.state == "closed"
        finally:
            nlu.close()
    states = [getattr(record, "state", None) for record in events(caplog, "nlu_breaker")]
    assert states == ["open", "half_open", "open", "half_open", "closed"]


def test_conversation_through_the_engine_with_a_hung_rasa_then_rasa_back(
    embedded_nlu: NluBackend, tmp_path: Path
) -> None:
    script = [
        "hola",
        "si",
        "tengo un almacen en vallenar hace 4 años, somos 2",
        "vendo como 800 lucas al mes",
        "no",
        "en mi casa",
        "a veces",
    ]
    rest = ["si", "necesito plata", "Mujer", "tengo 52 años", "estoy en el 40%"]
    with FakeRasa(embedded_nlu, mode="hang") as fake:
        nlu = rasa_nlu(fake, embedded_nlu)
        engine = make_engine(nlu, tmp_path / "db.sqlite3")
        try:
            slow = [timed(lambda m=m: engine.handle("test", "ana", m)) for m in script[:FAILURES]]
            assert all(seconds >= TIMEOUT * 0.9 for seconds in slow), "each of the first turns waited on Rasa"
            fast = [timed(lambda m=m: engine.handle("test", "ana", m)) for m in script[FAILURES:]]
            assert max(fast) < FAST, f"turns took {fast} with the breaker open"
            fake.mode = "rasa"
            wait_until(lambda: nlu.breaker.state == "half_open", seconds=COOLDOWN + TIMEOUT * 2 + 5)
            before = fake.requests["/model/parse"]
            replies = [engine.handle("test", "ana", message) for message in rest]
            parsed = [message for message in rest if message not in BUTTON_TITLES]
            assert fake.requests["/model/parse"] == before + len(parsed), "every free text parsed by Rasa again"
            assert nlu.breaker.state == "closed"
            assert _diagnosis(replies)["segment"] == "simple_accumulation"
        finally:
            nlu.close()


def _diagnosis(replies: list[list[Reply]]) -> dict[str, Any]:
    found = [reply.diagnosis for batch in replies for reply in batch if reply.diagnosis is not None]
    assert len(found) == 1, "the conversation reached its diagnosis"
    return found[0]


def test_only_one_trial_goes_to_the_server_while_half_open() -> None:
    probed = threading.Event()

    def probe() -> bool:
        probed.set()
        return True

    breaker = CircuitBreaker(probe, failures=2, cooldown=0.05)
    try:
        breaker.failed()
        assert breaker.state == "closed" and breaker.allow()
        breaker.failed()
        assert breaker.state == "open" and not breaker.allow()
        wait_until(lambda: breaker.state == "half_open")
        allowed = []
        threads = [threading.Thread(target=lambda: allowed.append(breaker.allow())) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert allowed.count(True) == 1
        breaker.succeeded()
        assert breaker.state == "closed" and breaker.allow()
    finally:
        breaker.close()


def test_failures_from_many_threads_open_the_breaker_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    breaker = CircuitBreaker(lambda: False, failures=3, cooldown=60)
    try:
        threads = [threading.Thread(target=breaker.failed) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert breaker.state == "open"
        assert len(events(caplog, "nlu_breaker")) == 1
        assert sum(thread.name == "nlu-breaker-probe" for thread in threading.enumerate()) == 1
    finally:
        breaker.close()


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    breaker = CircuitBreaker(lambda: True, failures=3, cooldown=60)
    for _ in range(5):
        breaker.failed()
        breaker.failed()
        breaker.succeeded()
    assert breaker.state == "closed"
    breaker.close()


def test_state_changes_are_json_log_lines_with_state_and_backend(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    breaker = CircuitBreaker(lambda: False, failures=1, cooldown=60)
    breaker.failed()
    breaker.close()
    [line] = [JsonFormatter().format(record) for record in events(caplog, "nlu_breaker")]
    assert '"event":"nlu_breaker"' in line and '"state":"open"' in line and '"backend":"embedded"' in line
