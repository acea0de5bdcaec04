"""Simulated entrepreneurs answering in their own words (tests/simulated) through the real engine and NLU.

Properties, over 400 seeded people: each reaches a route within 25 messages; the answers kept equal the
person's truth on every slot answered clearly; no message, and no turn's replies, come three times in a row.
`bench/simulated_bench.py` runs 5,000 and reports the distribution of turns and the share of slots recovered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from knowledge import KnowledgeBase
from nlu.parse import NluBackend
from tests.simulated.driver import Conversation, EngineChat, converse, problems, transcript
from tests.simulated.person import Person
from tests.test_conversations import make_engine

PEOPLE = 400
TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def conversations(
    embedded_nlu: NluBackend, kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Conversation, list[str]]]:
    engine = make_engine(embedded_nlu, tmp_path_factory.mktemp("simulated") / "ruta.sqlite3")
    done: list[tuple[Conversation, list[str]]] = []
    for seed in range(PEOPLE):
        chat = EngineChat(engine, f"person-{seed}", TODAY)
        conversation = _run(converse(Person(seed, kb), chat))
        done.append((conversation, problems(conversation, chat.slots())))
    return done


def _run(coroutine: Coroutine[Any, Any, Conversation]) -> Conversation:
    return asyncio.run(coroutine)


def test_every_person_gets_a_route_with_the_answers_they_gave(
    conversations: list[tuple[Conversation, list[str]]],
) -> None:
    failed = [(conversation, found) for conversation, found in conversations if found]
    report = "\n\n".join(f"{found}\n{transcript(conversation)}" for conversation, found in failed[:3])
    assert not failed, f"{len(failed)} of {len(conversations)} people were let down:\n{report}"


def test_the_people_really_are_varied(conversations: list[tuple[Conversation, list[str]]]) -> None:
    """The harness exercises what it claims: buttons, corrections, off-topic questions, several answers at once."""
    said = [action for conversation, _ in conversations for action, _ in conversation.turns]
    texts = [value for kind, value in said if kind == "say"]
    assert sum(kind == "press" for kind, _ in said) > PEOPLE
    assert sum(text.startswith(("no, perdón", "me equivoqué", "en realidad", "no, mejor dicho")) for text in texts) > 20
    assert sum(text.startswith("¿") for text in texts) > 20
    assert sum(" en " in text and ("hace" in text or "somos" in text) for text in texts) > 10
    assert len({conversation.person.truth["sector"] for conversation, _ in conversations}) >= 10


def test_a_seed_is_the_same_person(kb: KnowledgeBase) -> None:
    first, second = Person(7, kb), Person(7, kb)
    assert first.truth == second.truth and first.opening() == second.opening()


def test_the_harness_catches_a_bot_that_drops_answers(
    embedded_nlu: NluBackend, kb: KnowledgeBase, tmp_path: Path
) -> None:
    """A bot that forgets the sector must fail the check (the property can fail)."""
    engine = make_engine(embedded_nlu, tmp_path / "ruta.sqlite3")
    chat = EngineChat(engine, "forgetful", TODAY)
    conversation = _run(converse(Person(3, kb), chat))
    slots = dict(chat.slots())
    slots["sector"] = None
    assert "sector" in conversation.person.expected
    assert any(found.startswith("sector:") for found in problems(conversation, slots))
