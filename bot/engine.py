"""The engine: one turn = (channel, user id, message) -> replies. Channels only translate to and from it.

Data flows one way: the message is cleaned, parsed by the NLU backend, handled by the dialogue policy (which
asks the knowledge base and the templates), and the new state is stored under an HMAC pseudonym of the user.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from bot.dialogue.policy import Policy, Turn
from bot.dialogue.rules import DialogueRules, load_dialogue_rules
from bot.dialogue.state import ConversationState
from bot.domain import Domain, load_domain
from bot.kb_live import LiveKnowledge
from bot.kb_versions import KnowledgeVersions
from bot.render import Format
from bot.replies import Reply, Speaker
from bot.settings import Settings
from bot.storage import Store
from knowledge import Diagnosis, KnowledgeBase
from nlu.backends import make_backend
from nlu.parse import IntentDict, NluBackend, ParseDict, normalize

__all__ = ["Engine", "build_engine", "diagnosis_results", "open_store"]

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4_000


@dataclass
class Engine:
    """Wires NLU, dialogue policy and storage for one reply format."""

    kb: KnowledgeBase
    domain: Domain
    rules: DialogueRules
    nlu: NluBackend
    store: Store
    pseudonym_key: bytes
    fmt: Format = "text"
    live: LiveKnowledge | None = None  # the published knowledge base to follow; None: `kb` serves for good

    def __post_init__(self) -> None:
        self.speaker = Speaker(self.domain, self.kb, self.fmt)
        self.policy = Policy(self.domain, self.rules, self.kb, self.speaker)

    def _follow_knowledge(self) -> None:
        """Answer with the newest published knowledge base (checked every few seconds, see bot/kb_live.py)."""
        if self.live is not None and (current := self.live.current()) is not self.kb:
            self.kb = current
            self.__post_init__()

    def in_format(self, fmt: Format) -> Engine:
        """The same engine (NLU, storage, knowledge) replying in another format, for another channel."""
        return replace(self, fmt=fmt)

    def user_key(self, channel: str, user_id: str) -> str:
        """The pseudonym under which a user's data is kept: an HMAC of channel and id (not reversible)."""
        return hmac.new(self.pseudonym_key, f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()

    def handle(self, channel: str, user_id: str, text: str, today: date | None = None) -> list[Reply]:
        """Reply to one text message (or a button payload). Never raises: see `_guarded`."""
        key = self.user_key(channel, user_id)
        return self._guarded(key, today or date.today(), lambda day: self._text_turn(key, text, day))

    def handle_unsupported(self, channel: str, user_id: str, today: date | None = None) -> list[Reply]:
        """Reply to a voice note, photo, sticker…: say what the bot understands and ask again."""
        key = self.user_key(channel, user_id)
        return self._guarded(key, today or date.today(), lambda day: self._unsupported_turn(key, day))

    def _text_turn(self, key: str, text: str, today: date) -> list[Reply]:
        self._follow_knowledge()
        state = self._state(key)
        message = _clean(text)
        if not message:
            turn = self.policy.unsupported(state, today)
        else:
            message = state.buttons.get(_button_key(message, state.buttons), message)
            turn = self.policy.step(state, self._parse(message), today)
        self._persist(key, turn)
        return turn.replies

    def _unsupported_turn(self, key: str, today: date) -> list[Reply]:
        self._follow_knowledge()
        turn = self.policy.unsupported(self._state(key), today)
        self._persist(key, turn)
        return turn.replies

    def _guarded(self, key: str, today: date, turn: Callable[[date], list[Reply]]) -> list[Reply]:
        """The turn's replies; if it fails unexpectedly, nothing is stored and the person gets a kind word and
        the pending question again (the error is logged as its class and place, never the message)."""
        try:
            return turn(today)
        except Exception as exc:
            logger.error("turn failed", extra={"event": "turn_failed", "error": type(exc).__name__}, exc_info=exc)
        try:
            return self.policy.failed(self._state(key), today).replies
        except Exception as exc:  # the state cannot even be read (the database is down): the kind word alone
            logger.error("turn failed", extra={"event": "turn_failed", "error": type(exc).__name__}, exc_info=exc)
            return [self.speaker.say("utter_turn_failed")]

    def _parse(self, message: str) -> ParseDict:
        """NLU of the message; a command (/borrar) is its intent; an intent the domain lacks is out of scope."""
        command = message.split()[0].lstrip("/").split("@")[0].lower() if message.startswith("/") else ""
        if command in self.rules.commands:
            message = "/" + self.rules.commands[command]
        parse = self.nlu.parse(message)
        if parse["intent"]["name"] not in self.domain.intents:
            parse = ParseDict(text=message, intent=IntentDict(name="out_of_scope", confidence=1.0), entities=[])
        return parse

    def _state(self, key: str) -> ConversationState:
        raw = self.store.load_state(key)
        try:
            return ConversationState.model_validate(raw or {})
        except ValueError:
            logger.warning("unreadable conversation state; starting over")
            return ConversationState()

    def _persist(self, key: str, turn: Turn) -> None:
        if turn.erase:
            self.store.erase(key)
            return
        self.store.save_state(key, turn.state.model_dump(mode="json"))
        if turn.diagnosis is not None:
            self.store.add_diagnosis(
                key, turn.diagnosis.profile.model_dump(), diagnosis_results(turn.diagnosis), self.kb.version
            )


def diagnosis_results(diagnosis: Diagnosis) -> dict[str, Any]:
    """What is kept of a diagnosis: classifications and instrument ids, no text."""
    return {
        "segment": diagnosis.segment.value,
        "family": diagnosis.facts["family"],
        "stage": diagnosis.stage.value,
        "size": diagnosis.facts["size"],
        "pertinence": diagnosis.pertinence.level,
        "eligible": [r.instrument.id for r in diagnosis.instruments if r.eligible],
        "route": [step.result.instrument.id for step in diagnosis.route],
        "today": diagnosis.today.isoformat(),
    }


def _clean(text: str) -> str:
    """Printable text only (control characters become spaces), trimmed to a sane length."""
    cleaned = "".join(
        " " if unicodedata.category(c).startswith("C") and c not in "\n" else c for c in text[:MAX_MESSAGE_CHARS]
    )
    return cleaned.strip()


def _button_key(message: str, buttons: dict[str, str]) -> str:
    """The title of the pending question's button the message repeats (typed or tapped), if any."""
    wanted = normalize(message).strip(" .!¡¿?")
    return next((title for title in buttons if normalize(title) == wanted), message)


def build_engine(settings: Settings, fmt: Format = "text") -> Engine:
    """The engine with the configured NLU backend and database."""
    nlu = make_backend(
        settings.nlu_backend, settings.nlu_data_path, settings.nlu_cache_dir, settings.rasa_url, settings.rasa_timeout
    )
    store = open_store(settings)
    versions = KnowledgeVersions(store)
    versions.adopt_package()
    live = LiveKnowledge(versions, settings.kb_refresh_seconds)
    return Engine(
        kb=live.current(),
        domain=load_domain(settings.domain_path),
        rules=load_dialogue_rules(),
        nlu=nlu,
        store=store,
        pseudonym_key=settings.resolved_pseudonym_key(),
        fmt=fmt,
        live=live,
    )


def open_store(settings: Settings) -> Store:
    """The configured database, with records past the retention period deleted."""
    store = Store(settings.resolved_database_url)
    cutoff = settings.retention_cutoff(datetime.now(UTC))
    if cutoff is not None:
        conversations, diagnoses = store.purge(cutoff)
        if conversations or diagnoses:
            logger.info("retention", extra={"event": "retention_purge", "received": conversations + diagnoses})
    return store
