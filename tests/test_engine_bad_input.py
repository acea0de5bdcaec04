"""Issue 16, the engine's door: any text or button payload, in every state of the dialogue, gets a reply and
never an exception; a turn that fails unexpectedly changes nothing and says so kindly."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from nlu.parse import NluBackend
from tests.fuzz import fuzz_examples
from tests.test_conversations import REPO_ROOT, make_engine

TODAY = date(2026, 3, 10)
SCRIPT = yaml.safe_load((REPO_ROOT / "tests/channels/scripts.yml").read_text())["turismo_caldera"]
STEPS = [step.get("say") or step["press"] for step in SCRIPT]  # a typed title is the button it names
# Where a conversation can be: new, asking consent, each question of the form, confirming a restart, done.
PREFIXES = [STEPS[:n] for n in range(len(STEPS) + 1)] + [[*STEPS[:5], "quiero partir de cero"]]
DOMAIN = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
INTENTS = [name if isinstance(name, str) else next(iter(name)) for name in DOMAIN["intents"]]
ENTITIES = [name if isinstance(name, str) else next(iter(name)) for name in DOMAIN["entities"]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
payloads = st.builds(
    lambda intent, entities: f"/{intent}" + (json.dumps(entities) if entities is not None else ""),
    st.sampled_from([*INTENTS, "no_such_intent"]),
    st.none() | st.dictionaries(st.sampled_from([*ENTITIES, "x"]), json_values, max_size=3),
)
nested = st.integers(1, 3000).map(lambda depth: '/ask_instrument{"a":' + "[" * depth)
messages = st.one_of(payloads, nested, st.text(max_size=200))
USERS = itertools.count()


@pytest.fixture(scope="module")
def engine(embedded_nlu: NluBackend, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return make_engine(embedded_nlu, Path(tmp_path_factory.mktemp("db")) / "ruta.sqlite3")


def _user_at(engine: Engine, prefix: list[str]) -> str:
    user = f"u{next(USERS)}"
    for text in prefix:
        engine.handle("bad", user, text, TODAY)
    return user


@settings(
    max_examples=fuzz_examples(400), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(prefix=st.sampled_from(PREFIXES), texts=st.lists(messages, min_size=1, max_size=3))
def test_any_payload_or_text_in_any_state_gets_a_reply(engine: Engine, prefix: list[str], texts: list[str]) -> None:
    user = _user_at(engine, prefix)
    for text in texts:
        replies = engine.handle("bad", user, text, TODAY)
        assert replies and all(reply.text.strip() for reply in replies)
        assert not any("Tuve un problema" in reply.text for reply in replies), text  # handled, not guarded


REGRESSIONS = [
    '/ask_instrument{"a":' + "[" * 1000 + "]" * 1000 + "}",  # RecursionError in the payload parser
    '/ask_requirements{"instrument": [1]}',  # TypeError: unhashable list in the policy
    '/ask_requirements{"instrument": {"id": "crece"}}',
    '/inform{"commune": 5}',
    '/inform{"age": 1e308, "workers": -1}',
    '/inform{"sector": null, "premises": true}',
    "/inform" + '{"x": "' + "y" * 5000 + '"}',
]


@pytest.mark.parametrize("text", REGRESSIONS)
@pytest.mark.parametrize("prefix", [[], STEPS[:3], STEPS[:8], STEPS])
def test_named_payloads_that_crashed_the_console(engine: Engine, prefix: list[str], text: str) -> None:
    user = _user_at(engine, prefix)
    before = engine.store.load_state(engine.user_key("bad", user))
    replies = engine.handle("bad", user, text, TODAY)
    assert replies and not any("Tuve un problema" in reply.text for reply in replies)
    after = engine.store.load_state(engine.user_key("bad", user)) or {}
    for slot, value in (before or {}).get("slots", {}).items():  # no answer given is lost or garbled
        assert after["slots"].get(slot) == value


def _explode(*_: Any) -> Any:
    raise RuntimeError("a bug in a turn")


def test_a_failing_turn_is_a_kind_reply_with_the_question_and_changes_nothing(engine, monkeypatch, caplog):
    user = _user_at(engine, STEPS[:4])
    key = engine.user_key("bad", user)
    before = engine.store.load_state(key)
    monkeypatch.setattr(engine.policy, "step", _explode)
    replies = engine.handle("bad", user, "vendo empanadas", TODAY)
    assert "Tuve un problema con ese mensaje" in replies[0].text
    assert len(replies) == 2 and replies[1].buttons  # the pending question again, with its buttons
    assert engine.store.load_state(key) == before
    failure = next(record for record in caplog.records if getattr(record, "event", "") == "turn_failed")
    assert failure.error == "RuntimeError" and "vendo" not in failure.getMessage()


def test_a_database_that_fails_still_gets_a_kind_reply(engine, monkeypatch):
    monkeypatch.setattr(engine.store, "load_conversation", _explode)
    for turn in (lambda: engine.handle("bad", "down", "hola", TODAY), lambda: engine.handle_unsupported("bad", "down")):
        replies = turn()
        assert len(replies) == 1 and "Tuve un problema" in replies[0].text
