"""Issue 17: a turn is one write. A fault right before or right after each commit of a turn, on an ordinary turn
and on the last one, never loses an answer, the route or the diagnosis, and never stores a diagnosis twice.

A channel here is what the console and the chat services do: take the turn (`respond`), deliver its replies,
then report them delivered. A "kill" is an exception no code catches (the process dies at that point); the
restart is a new engine on the same database. The person sends their message again when they saw no reply to
it, and goes on when they did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import yaml
from sqlalchemy import event

from bot.dialogue.state import ConversationState
from bot.engine import Engine
from bot.storage import StaleConversation, Store
from nlu.parse import NluBackend
from tests.test_conversations import REPO_ROOT, make_engine

TODAY = date(2026, 3, 10)
CHANNEL = "console"
SCRIPT = yaml.safe_load((REPO_ROOT / "tests/channels/scripts.yml").read_text())["turismo_caldera"]
STEPS = [step.get("say") or step["press"] for step in SCRIPT]
LAST, ORDINARY, YES_NO = len(STEPS) - 1, 5, 8  # step 8 answers "Sí" to a yes/no question followed by another
POINTS = ("before_commit", "after_commit", "before_delivered", "after_delivered")
KINDS = ("kill", "raise")
READY = "¡Listo! Con eso tengo lo necesario. 🙌"  # the reply that comes with the route


class Killed(BaseException):
    """The process dies here: nothing after this point runs (no handler catches a BaseException)."""


class Fault(Exception):
    """A write fails (the database is lost for a moment)."""


@contextmanager
def fault_at(store: Store, point: str, error: BaseException) -> Iterator[None]:
    """Make the next write named by `point` fail with `error`, right before its COMMIT or right after it."""
    method = "commit_turn" if point.endswith("commit") else "delivered"
    real = getattr(store, method)
    armed: set[str] = set()

    def before_commit(_connection: Any) -> None:
        if "commit" in armed:
            armed.clear()
            raise error

    def call(*args: Any, **kwargs: Any) -> Any:
        if point.startswith("before"):
            armed.add("commit")
            return real(*args, **kwargs)
        real(*args, **kwargs)
        raise error

    event.listen(store.engine, "commit", before_commit)
    setattr(store, method, call)
    try:
        yield
    finally:
        event.remove(store.engine, "commit", before_commit)
        setattr(store, method, real)


class Person:
    """One person chatting through a channel that delivers, then reports delivered; restarts on a kill."""

    def __init__(self, start: Callable[[], Engine]) -> None:
        self.start = start
        self.engine = start()
        self.transcript: list[list[str]] = []

    def send(self, text: str) -> list[str]:
        delivery = self.engine.respond(CHANNEL, "person", text, TODAY)
        self.transcript.append([reply.text for reply in delivery.replies])
        self.engine.delivered(delivery)
        return self.transcript[-1]

    def send_with_fault(self, text: str, point: str, kind: str) -> None:
        error = Killed() if kind == "kill" else Fault()
        try:
            with fault_at(self.engine.store, point, error):
                self.send(text)
        except Killed:
            self.engine.store.close()
            self.engine = self.start()
        if point.endswith("commit"):  # the person saw no reply, or "Tuve un problema…": they send it again
            self.send(text)

    @property
    def key(self) -> str:
        return self.engine.user_key(CHANNEL, "person")

    def state(self) -> ConversationState:
        return ConversationState.model_validate(self.engine.store.load_state(self.key) or {})


@pytest.fixture
def start(embedded_nlu: NluBackend, database_url: str) -> Callable[[], Engine]:
    return lambda: make_engine(embedded_nlu, database_url)


@pytest.fixture(scope="module")
def uninterrupted(embedded_nlu: NluBackend, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    person = Person(lambda: make_engine(embedded_nlu, tmp_path_factory.mktemp("clean") / "ruta.sqlite3"))
    for text in STEPS:
        person.send(text)
    [record] = person.engine.store.diagnoses(person.key)
    return {"transcript": person.transcript, "route": person.state().route, "results": record.results}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("step", [ORDINARY, YES_NO, LAST])
def test_a_fault_at_any_write_of_a_turn_ends_on_the_same_route_and_one_diagnosis(
    start: Callable[[], Engine], uninterrupted: dict[str, Any], step: int, point: str, kind: str
) -> None:
    person = Person(start)
    for text in STEPS[:step]:
        person.send(text)
    person.send_with_fault(STEPS[step], point, kind)
    for text in STEPS[step + 1 :]:
        person.send(text)

    [record] = person.engine.store.diagnoses(person.key)
    assert record.results == uninterrupted["results"]
    assert person.state().route == uninterrupted["route"] and person.state().phase == "done"
    left = [row.reply["text"] for row in person.engine.store.undelivered(person.key)]
    assert left == (uninterrupted["transcript"][LAST] if (step, point) == (LAST, "before_delivered") else [])
    assert _seen(person.transcript, kind, point) == _expected(uninterrupted["transcript"], step, point)


def _seen(transcript: list[list[str]], kind: str, point: str) -> list[list[str]]:
    """What the person saw, leaving out the turn a fault cut short ("Tuve un problema…", or nothing)."""
    if point.endswith("commit"):
        return [turn for turn in transcript if not (turn and turn[0].startswith("Tuve un problema"))]
    return transcript


def _expected(clean: list[list[str]], step: int, point: str) -> list[list[str]]:
    """What an uninterrupted run shows, except that replies reported delivered by no one come once more with the
    next message (delivery is at least once: the window between showing a reply and reporting it is tiny)."""
    if point != "before_delivered" or step == LAST:
        return clean
    again = clean[step] + [text for text in clean[step + 1] if text != clean[step][-1] or clean[step + 1][0] != text]
    return [*clean[: step + 1], again, *clean[step + 2 :]]


def test_the_last_answer_sent_again_after_a_kill_gives_the_route_once(start: Callable[[], Engine]) -> None:
    person = Person(start)
    for text in STEPS[:LAST]:
        person.send(text)
    person.send_with_fault(STEPS[LAST], "after_commit", "kill")
    assert person.transcript[-1].count(READY) == 1
    person.send(STEPS[LAST])  # and once more: the route is not repeated, nor stored again
    assert READY not in person.transcript[-1]
    assert len(person.engine.store.diagnoses(person.key)) == 1


def _left_done_without_diagnosis(person: Person) -> dict[str, Any]:
    """What an older version left after a crash: the conversation "done", no diagnosis, no route delivered."""
    for text in STEPS[:LAST]:
        person.send(text)
    state = person.state().model_copy(update={"phase": "done", "requested_slot": None})
    state.slots["rsh_percentile"] = 90
    raw = state.model_dump(mode="json")
    del raw["diagnosis_id"]
    person.engine.store.save_state(person.key, raw)
    return raw


def test_a_conversation_left_done_without_diagnosis_is_finished_at_start(start: Callable[[], Engine]) -> None:
    person = Person(start)
    _left_done_without_diagnosis(person)
    assert person.engine.store.unfinished() == [person.key]
    assert person.engine.finish_unfinished(TODAY) == 1
    assert person.engine.finish_unfinished(TODAY) == 0  # stored once
    [record] = person.engine.store.diagnoses(person.key)
    assert person.state().diagnosis_id == record.id and person.engine.store.unfinished() == []
    person.send(STEPS[LAST])
    assert person.transcript[-1].count(READY) == 1
    person.send("gracias")
    assert READY not in person.transcript[-1]
    assert len(person.engine.store.diagnoses(person.key)) == 1


def test_a_conversation_left_done_without_diagnosis_is_finished_by_its_next_message(
    start: Callable[[], Engine],
) -> None:
    person = Person(start)
    _left_done_without_diagnosis(person)
    person.send("gracias")
    assert person.transcript[-1].count(READY) == 1
    [record] = person.engine.store.diagnoses(person.key)
    assert person.state().diagnosis_id == record.id and record.answers["rsh_percentile"] == 90


def test_an_older_versions_stored_diagnosis_is_adopted_not_made_again(start: Callable[[], Engine]) -> None:
    person = Person(start)
    for text in STEPS:
        person.send(text)
    raw = person.state().model_dump(mode="json")
    del raw["diagnosis_id"]  # as an older version kept it
    person.engine.store.save_state(person.key, raw)
    assert person.engine.finish_unfinished(TODAY) == 0
    [record] = person.engine.store.diagnoses(person.key)
    assert person.state().diagnosis_id == record.id
    person.send("gracias")
    assert READY not in person.transcript[-1]


def test_a_turn_written_over_a_newer_state_is_refused_and_writes_nothing(database_url: str) -> None:
    store = Store(database_url)
    first = store.load_conversation("k")
    store.commit_turn("k", CHANNEL, first, {"phase": "consent"}, [{"text": "a", "buttons": [], "diagnosis": None}])
    with pytest.raises(StaleConversation):
        store.commit_turn("k", CHANNEL, first, {"phase": "form"}, [{"text": "b", "buttons": [], "diagnosis": None}])
    assert store.load_state("k") == {"phase": "consent"}
    assert [row.reply["text"] for row in store.undelivered("k")] == ["a"]


def test_two_engines_on_one_conversation_take_turns_without_losing_one(start: Callable[[], Engine]) -> None:
    first, second = start(), start()
    first.handle(CHANNEL, "person", "hola", TODAY)
    read = first.store.load_conversation(first.user_key(CHANNEL, "person"))
    second.handle(CHANNEL, "person", "si", TODAY)  # written between the first engine's read and its write
    real = first.store.load_conversation
    reads = iter([read])
    first.store.load_conversation = lambda key: next(reads, None) or real(key)  # type: ignore[method-assign]
    replies = first.handle(CHANNEL, "person", "Caldera", TODAY)
    assert "¿A qué te dedicas?" in replies[-1].text  # the question after the commune: no answer lost
    state = ConversationState.model_validate(first.store.load_state(first.user_key(CHANNEL, "person")))
    assert state.slots["commune"] == "caldera" and state.consent
