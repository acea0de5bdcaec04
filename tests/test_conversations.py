"""Scripted conversations (tests/conversations/*.yml) through the real engine, NLU and SQLite storage.

Every conversation runs against the embedded NLU backend and, in the same test command, against a real
Rasa server (tests/rasa_service.py starts it; slow, never skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogue.rules import load_dialogue_rules
from bot.dialogue.state import ConversationState
from bot.domain import load_domain
from bot.engine import Engine
from bot.replies import Reply
from bot.settings import REPO_ROOT
from bot.storage import Store
from knowledge import load_knowledge_base
from nlu.parse import NluBackend
from tests.postgres import PostgresServer

CASES = [
    case
    for path in sorted((Path(__file__).parent / "conversations").glob("*.yml"))
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))
]


def make_engine(nlu: NluBackend, database: Path | str) -> Engine:
    """An engine on `database`: a SQLite file, or a database URL."""
    return Engine(
        kb=load_knowledge_base(),
        domain=load_domain(REPO_ROOT / "domain.yml"),
        rules=load_dialogue_rules(),
        nlu=nlu,
        store=Store(database if isinstance(database, str) else f"sqlite:///{database}"),
        pseudonym_key=b"test-key",
    )


def _check(engine: Engine, replies: list[Reply], expect: dict[str, Any], where: str) -> None:
    key = engine.user_key("test", "user-1")
    raw = engine.store.load_state(key)
    text = "\n".join(reply.text for reply in replies)
    if expect.get("erased"):
        assert raw is None and not engine.store.diagnoses(key), where
    state = ConversationState.model_validate(raw or {})
    checks: dict[str, Callable[[Any], None]] = {
        "phase": lambda v: _equal(state.phase, v, where),
        "asks": lambda v: _equal(state.requested_slot, v, where),
        "unknown": lambda v: _equal(sorted(state.unknown), sorted(v), where),
        "slots": lambda v: [_equal(state.slots.get(k), want, f"{where} slot {k}") for k, want in v.items()],
        "says": lambda v: [_contains(text, fragment, where) for fragment in v],
        "buttons": lambda v: [_contains([b.title for r in replies for b in r.buttons], t, where) for t in v],
        "diagnosis": lambda v: _check_diagnosis(replies, v, where),
        "erased": lambda v: None,
    }
    for key_name, value in expect.items():
        checks[key_name](value)


def _equal(got: Any, want: Any, where: str) -> None:
    assert got == want, f"{where}: got {got!r}, want {want!r}"


def _contains(haystack: Any, needle: str, where: str) -> None:
    assert needle in haystack, f"{where}: {needle!r} not in {haystack!r}"


def _check_diagnosis(replies: list[Reply], expect: dict[str, Any], where: str) -> None:
    [diagnosis] = [reply.diagnosis for reply in replies if reply.diagnosis is not None]
    route = [step["instrument"] for step in diagnosis["route"]]
    for key, value in expect.items():
        if key == "route_starts_with":
            _equal(route[: len(value)], value, where)
        elif key == "route_includes":
            for instrument in value:
                _contains(route, instrument, where)
        elif key == "pertinence":
            _equal(diagnosis["pertinence"]["level"], value, where)
        else:
            _equal(diagnosis[key], value, where)


def run_conversation(engine: Engine, case: dict[str, Any]) -> None:
    for number, turn in enumerate(case["turns"], start=1):
        replies = engine.handle("test", "user-1", str(turn["user"]), case["today"])
        assert replies, f"turn {number}: no reply"
        _check(engine, replies, turn.get("expect", {}), f"turn {number} ({turn['user']!r})")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_conversation_embedded(embedded_nlu: NluBackend, tmp_path: Path, case: dict[str, Any]) -> None:
    run_conversation(make_engine(embedded_nlu, tmp_path / "ruta.sqlite3"), case)


@pytest.mark.rasa
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_conversation_rasa(rasa_nlu: NluBackend, tmp_path: Path, case: dict[str, Any]) -> None:
    run_conversation(make_engine(rasa_nlu, tmp_path / "ruta.sqlite3"), case)


# the engine's whole write path on PostgreSQL: a route with its diagnosis, erasure, reminders and the route's PDF
POSTGRES_CASES = [CASES[0], *(case for case in CASES if case["name"].startswith(("erasing", "the route, its PDF")))]


@pytest.mark.postgresql
@pytest.mark.parametrize("case", POSTGRES_CASES, ids=[case["name"] for case in POSTGRES_CASES])
def test_conversation_on_postgresql(
    embedded_nlu: NluBackend, postgres_server: PostgresServer, case: dict[str, Any]
) -> None:
    with postgres_server.database() as url:
        run_conversation(make_engine(embedded_nlu, url), case)


def test_a_restart_of_the_process_resumes_the_conversation(embedded_nlu: NluBackend, database_url: str) -> None:
    first = make_engine(embedded_nlu, database_url)
    for message in ("hola", "si", "vallenar"):
        first.handle("test", "user-1", message, date(2026, 3, 10))
    first.store.close()
    second = make_engine(embedded_nlu, database_url)
    second.handle("test", "user-1", "tengo un almacen", date(2026, 3, 10))
    state = ConversationState.model_validate(second.store.load_state(second.user_key("test", "user-1")))
    assert state.slots["commune"] == "vallenar" and state.slots["sector"] == "comercio"
    assert state.requested_slot == "operating"
