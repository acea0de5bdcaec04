"""Whatever arrives — any unicode, emoji, 10 kB, SQL- or HTML-looking text — a turn never crashes and replies."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from nlu.parse import NluBackend
from tests.test_conversations import make_engine

HOSTILE = [
    "'; DROP TABLE conversations; --",
    "<script>alert('x')</script>",
    "<b>Pan & Co</b>",
    "🙂🙂🙂👍🏽",
    "\x00\x01\x02",
    '/inform{"commune": "santiago"}',
    "/inform{not json",
    '/inform{"age": "muchos"}',
    "/no_such_intent",
    "x" * 10_000,
    "tengo " + "9" * 400 + " años",
    "",
    "   ",
]
messages = st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE), st.text(min_size=5000, max_size=10_000))


@pytest.fixture(scope="module")
def engine(embedded_nlu: NluBackend, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return make_engine(embedded_nlu, Path(tmp_path_factory.mktemp("db")) / "ruta.sqlite3")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from([[], ["hola"], ["hola", "si"], ["hola", "si", "caldera", "pesca"]]),
    texts=st.lists(messages, min_size=1, max_size=3),
    user=st.integers(0, 10**6),
)
def test_any_message_gets_a_reply(engine: Engine, prefix: list[str], texts: list[str], user: int) -> None:
    for text in prefix + texts:
        replies = engine.handle("prop", str(user), text, date(2026, 3, 10))
        assert replies and all(reply.text.strip() for reply in replies)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_in_the_middle_of_a_diagnosis_keeps_the_answers(engine: Engine, text: str) -> None:
    for message in ("hola", "si", "vallenar"):
        engine.handle("hostile", text[:20], message, date(2026, 3, 10))
    assert engine.handle("hostile", text[:20], text, date(2026, 3, 10))
    state = engine.store.load_state(engine.user_key("hostile", text[:20]))
    assert state is not None and state["slots"]["commune"] == "vallenar"


REPEATERS = itertools.count()
REALISTIC = ["hola", "si", "no", "mmm", "ayuda", "no sé", "gracias", "vallenar", "vendo empanadas", "54 años",
             "¿qué es la UF?", "/reiniciar", "/start", "quiero partir de cero", "somos 3", "jaja", "?"]  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from([[], ["hola"], ["hola", "si"], ["hola", "si", "caldera", "pesca", "si", "hace 2 años"]]),
    text=st.one_of(st.sampled_from(REALISTIC), st.text(max_size=40)),
)
def test_the_same_message_again_never_gets_the_same_replies_again(engine: Engine, prefix: list[str], text: str) -> None:
    """Sent five times in a row, a message gets five different turns, and no question stays for all five
    (except after /reiniciar, which rightly goes back to the first question each time, and a goodbye: the
    question waits for the person's return; found by a random draw: "HAO", read as "chao")."""
    user = next(REPEATERS)
    for message in prefix:
        engine.handle("repeat", str(user), message, date(2026, 3, 10))
    turns, asked = [], []
    for _ in range(5):
        turns.append([reply.text for reply in engine.handle("repeat", str(user), text, date(2026, 3, 10))])
        state = engine.store.load_state(engine.user_key("repeat", str(user)))
        asked.append((state or {}).get("requested_slot"))
    assert all(first != second for first, second in itertools.pairwise(turns)), turns
    restarted = any("Empecemos de nuevo" in reply for turn in turns for reply in turn)
    leaving = engine.nlu.parse(text)["intent"]["name"] == "goodbye"  # the question waits for them to come back
    assert restarted or leaving or not (asked[0] is not None and len(set(asked)) == 1), (asked, turns)
