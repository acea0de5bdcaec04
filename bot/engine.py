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
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.addresses import AddressCipher
from bot.database_health import unwritable
from bot.dialogue.policy import Policy, Turn, TurnContext
from bot.dialogue.rules import DialogueRules, load_dialogue_rules
from bot.dialogue.state import ConversationState
from bot.dialogue.turn import Handoff
from bot.domain import Domain, load_domain
from bot.handoffs import HandoffCodes
from bot.kb_live import LiveKnowledge
from bot.kb_versions import KnowledgeVersions
from bot.outbox import OutboxQueue
from bot.reminders import ReminderRules, load_reminder_rules, new_reminders
from bot.render import Format
from bot.replies import Reply, Speaker
from bot.settings import Settings
from bot.storage import (
    AlreadyProcessed,
    NewDiagnosis,
    NewReminder,
    OutboxRow,
    StaleConversation,
    Store,
    StoredConversation,
)
from knowledge import Diagnosis, KnowledgeBase
from nlu.parse import IntentDict, NluBackend, ParseDict, normalize

__all__ = ["Delivery", "Engine", "build_engine", "diagnosis_results", "open_store"]

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
    handoff_days: int = 14  # how long a code for a human advisor stays valid
    reminder_rules: ReminderRules = field(default_factory=load_reminder_rules)

    def __post_init__(self) -> None:
        self.addresses = AddressCipher(self.pseudonym_key)  # the outbox's addresses (bot/addresses.py)
        self._speak_with_knowledge()

    def _speak_with_knowledge(self) -> None:
        self.speaker = Speaker(self.domain, self.kb, self.fmt)
        self.policy = Policy(self.domain, self.rules, self.kb, self.speaker)

    def _follow_knowledge(self) -> None:
        """Answer with the newest published knowledge base (checked every few seconds, see bot/kb_live.py)."""
        if self.live is not None and (current := self.live.current()) is not self.kb:
            self.kb = current
            self._speak_with_knowledge()

    def knowledge(self) -> KnowledgeBase:
        """The knowledge base serving now (the newest published one)."""
        self._follow_knowledge()
        return self.kb

    def in_format(self, fmt: Format) -> Engine:
        """The same engine (NLU, storage, knowledge) replying in another format, for another channel."""
        return replace(self, fmt=fmt)

    def user_key(self, channel: str, user_id: str) -> str:
        """The pseudonym under which a user's data is kept: an HMAC of channel and id (not reversible)."""
        return self._keyed(f"{channel}:{user_id}")

    def _keyed(self, text: str) -> str:
        """The HMAC-SHA256 of `text` with the pseudonym key, in hex: nobody without the key can compute it."""
        return hmac.new(self.pseudonym_key, text.encode(), hashlib.sha256).hexdigest()

    def handle(self, channel: str, user_id: str, text: str, today: date | None = None) -> list[Reply]:
        """Reply to one text message (or a button payload), for a caller that delivers the replies at once."""
        return self._delivered_now(self.respond(channel, user_id, text, today))

    def handle_unsupported(self, channel: str, user_id: str, today: date | None = None) -> list[Reply]:
        """Reply to a voice note, photo, sticker…: say what the bot understands and ask again."""
        return self._delivered_now(self.respond_unsupported(channel, user_id, today))

    def respond(self, channel: str, user_id: str, text: str, today: date | None = None) -> Delivery:
        """Take the turn of one text message; its replies stay in the outbox until `delivered` is called.

        Never raises: see `_guarded`. A message sent again while the replies to it are still undelivered (the
        person saw nothing, as after a crash) is not taken again: those replies are delivered instead."""
        key = self.user_key(channel, user_id)
        return self._guarded(key, today or date.today(), lambda day: self._text_turn(key, channel, text, day, LOCAL))

    def respond_unsupported(self, channel: str, user_id: str, today: date | None = None) -> Delivery:
        key = self.user_key(channel, user_id)
        return self._guarded(key, today or date.today(), lambda day: self._unsupported_turn(key, channel, day, LOCAL))

    def take(
        self,
        channel: str,
        user_id: str,
        text: str | None,
        message_id: str,
        today: date | None = None,
        place: int | None = None,
    ) -> bool:
        """Take the turn of one message for a channel whose replies a sender delivers from the outbox (see
        bot/channels/sender.py): the replies are queued with the address encrypted, in the transaction that
        marks the message processed. `text` None: a voice note, photo… False if the message was taken before.
        `place` is the message's place in its chat's line on PostgreSQL (`Store.take_ticket`), marked served with
        the turn; the caller marks it served itself when this returns False or raises.

        A turn that fails unexpectedly queues the kind reply instead. A database that cannot be written raises
        (SQLAlchemyError): the channel lets the service deliver the message again."""
        key, day = self.user_key(channel, user_id), today or date.today()
        inbound = Inbound(self.addresses.encrypt(user_id), self._message_digest(channel, message_id), place)
        try:  # a message taken before is refused by the commit (AlreadyProcessed): no query spent on every turn
            if text is None:
                self._unsupported_turn(key, channel, day, inbound)
            else:
                self._text_turn(key, channel, text, day, inbound)
        except AlreadyProcessed:
            return False
        except SQLAlchemyError:
            raise
        except Exception as exc:
            logger.error("turn failed", extra={"event": "turn_failed", "error": type(exc).__name__}, exc_info=exc)
            records = [reply.to_record() for reply in self._failed_replies(key, day)]
            self.store.queue_replies(key, channel, records, address=inbound.address, message=inbound.message)
            if place is not None:
                self.store.pass_turn(key, place)
        return True

    def delivered(self, delivery: Delivery) -> None:
        """The replies were delivered: forget them (if this fails they are delivered again, never lost)."""
        try:
            self.store.delivered(delivery.outbox_ids)
        except Exception as exc:
            logger.error("outbox", extra={"event": "outbox_failed", "error": type(exc).__name__}, exc_info=exc)

    def _delivered_now(self, delivery: Delivery) -> list[Reply]:
        self.delivered(delivery)
        return delivery.replies

    def finish_unfinished(self, today: date | None = None) -> int:
        """Store the diagnosis of every conversation left "done" without one (by a crash or an older version),
        made with the knowledge base serving; the route is shown, in the channel's format, with the person's next
        message. Returns how many diagnoses were stored."""
        self._follow_knowledge()
        finished = 0
        for key in self.store.unfinished():
            read = self.store.load_conversation(key)
            turn = self._finished(key, self._state(read.state), today or date.today())
            if turn is None:
                continue
            stores = turn.diagnosis is not None  # or it adopts the diagnosis an older version stored
            turn.replies, turn.state.route_due = [], stores
            try:
                self._commit(key, "", read, turn, today or date.today())
            except StaleConversation:  # the person wrote meanwhile, and that turn finished it
                continue
            finished += stores
        return finished

    def _text_turn(self, key: str, channel: str, text: str, today: date, inbound: Inbound) -> Delivery:
        message = _clean(text)
        digest = self._digest(message) if message and inbound.address is None else ""  # see `respond`

        def decide(state: ConversationState, context: TurnContext) -> Turn:
            if not message:
                return self.policy.unsupported(state, today)
            button = state.buttons.get(_button_key(message, state.buttons), message)
            return self.policy.step(state, self._parse(button), today, context)

        return self._take(key, channel, today, decide, digest, inbound)

    def _unsupported_turn(self, key: str, channel: str, today: date, inbound: Inbound) -> Delivery:
        return self._take(key, channel, today, lambda state, _: self.policy.unsupported(state, today), "", inbound)

    def _take(
        self,
        key: str,
        channel: str,
        today: date,
        decide: Callable[[ConversationState, TurnContext], Turn],
        digest: str,
        inbound: Inbound,
    ) -> Delivery:
        """Read the conversation, decide the turn, write it in one transaction, all under the conversation's lock
        (`Store.turn_lock`: on PostgreSQL other workers' turns of the chat wait); taken again once if a writer
        that does not take the lock got there first."""
        self._follow_knowledge()
        context = TurnContext(can_remind=inbound.address is not None, handoff=lambda: self._handoff(key, today))
        for attempt in (1, 2):
            try:
                with self.store.turn_lock(key, inbound.place):
                    read = self.store.load_conversation(key)
                    state = self._state(read.state)
                    if digest and digest == state.last_message and (pending := self.store.undelivered(key)):
                        return _delivery(pending)
                    finished = self._finished(key, state, today)
                    turn = decide(finished.state if finished else state, context)
                    turn.state.last_message = digest
                    return self._commit(key, channel, read, _after(finished, turn), today, inbound)
            except StaleConversation:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _finished(self, key: str, state: ConversationState, today: date) -> Turn | None:
        """For a conversation "done" whose route was not stored or not shown: its route, with the diagnosis to
        store if none is (an older version did not name the one it stored: that one is adopted). None for any
        other conversation."""
        if state.phase != "done" or (state.diagnosis_id is not None and not state.route_due):
            return None
        if state.diagnosis_id is None and (stored := self.store.diagnoses(key)):
            return Turn(state.model_copy(update={"diagnosis_id": stored[-1].id}))
        logger.info("unfinished conversation finished", extra={"event": "conversation_finished"})
        turn = self.policy.finish(state, today)
        if state.route_due:
            turn.diagnosis, turn.state.route_due = None, False
        return turn

    def _guarded(self, key: str, today: date, turn: Callable[[date], Delivery]) -> Delivery:
        """The turn's delivery; if it fails unexpectedly, nothing is stored and the person gets a kind word and
        the pending question again (the error is logged as its class and place, never the message)."""
        try:
            return turn(today)
        except Exception as exc:
            if unwritable(exc) is None:  # a read-only database or a full disk is logged once, by its condition
                logger.error("turn failed", extra={"event": "turn_failed", "error": type(exc).__name__}, exc_info=exc)
        try:
            return Delivery(self._failed_replies(key, today), [])
        except Exception as exc:  # the state cannot even be read (the database is down): the kind word alone
            logger.error("turn failed", extra={"event": "turn_failed", "error": type(exc).__name__}, exc_info=exc)
            return Delivery([self.speaker.say("utter_turn_failed")], [])

    def _handoff(self, key: str, today: date) -> Handoff:
        """The person's code for a human advisor (the one still valid, else a new one), with the last day it is
        valid on the person's calendar (`today` is the channel's day, not UTC's)."""
        now = datetime.now(UTC)
        code = HandoffCodes(self.store).code_for(key, now, timedelta(days=self.handoff_days))
        return Handoff(code.code, today + timedelta(days=(code.expires_at - now).days))

    def _failed_replies(self, key: str, today: date) -> list[Reply]:
        """After a turn failed unexpectedly: a kind word and the pending question as it was."""
        return self.policy.failed(self._state(self.store.load_conversation(key).state), today).replies

    def _parse(self, message: str) -> ParseDict:
        """NLU of the message; a command (/borrar) is its intent; an intent the domain lacks is out of scope."""
        command = message.split()[0].lstrip("/").split("@")[0].lower() if message.startswith("/") else ""
        if command in self.rules.commands:
            message = "/" + self.rules.commands[command]
        parse = self.nlu.parse(message)
        if parse["intent"]["name"] not in self.domain.intents:
            parse = ParseDict(text=message, intent=IntentDict(name="out_of_scope", confidence=1.0), entities=[])
        return parse

    def _state(self, raw: dict[str, Any]) -> ConversationState:
        try:
            return ConversationState.model_validate(raw)
        except ValueError:
            logger.warning("unreadable conversation state; starting over")
            return ConversationState()

    def _message_digest(self, channel: str, message_id: str) -> str:
        """A keyed digest of an inbound message's id (a WhatsApp id holds the phone number: never stored)."""
        return self._keyed(f"id:{channel}:{message_id}")

    def _digest(self, message: str) -> str:
        """A keyed digest of a message: it tells a message sent again, and the message cannot be read from it."""
        return self._keyed(normalize(message))[:16]

    def _commit(
        self,
        key: str,
        channel: str,
        read: StoredConversation,
        turn: Turn,
        today: date,
        inbound: Inbound | None = None,
    ) -> Delivery:
        """Write the turn in one transaction: state, the diagnosis it completes, the reminders it asks for or
        stops, and its replies (see Store)."""
        inbound = inbound or LOCAL
        if turn.erase:
            self.store.erase(key)
            if inbound.address is None:
                return Delivery(turn.replies, [])
            records = [reply.to_record() for reply in turn.replies]
            rows = self.store.queue_replies(key, channel, records, address=inbound.address, message=inbound.message)
            return _delivery(rows)
        diagnosis = None
        if turn.diagnosis is not None:
            results = diagnosis_results(turn.diagnosis)
            diagnosis = NewDiagnosis(turn.diagnosis.profile.model_dump(), results, self.kb.version)
        state = turn.state.model_dump(mode="json")
        replies = [reply.to_record() for reply in turn.replies]
        rows = self.store.commit_turn(
            key,
            channel,
            read,
            state,
            replies,
            diagnosis,
            address=inbound.address,
            message=inbound.message,
            reminders=self._reminders(turn, today),
        )
        return _delivery(rows)

    def _reminders(self, turn: Turn, today: date) -> list[NewReminder] | None:
        """The reminders the turn asks for ([] to stop them), or None when it leaves them as they are."""
        if turn.forget_reminders:
            return []
        if turn.remind is None:
            return None
        commune = turn.state.slots.get("commune")
        return new_reminders(turn.remind, str(commune) if commune else None, self.kb, today, self.reminder_rules)


@dataclass(frozen=True)
class Inbound:
    """Where a turn's replies go: `address` (encrypted) for a sender to deliver them, None for the caller; the
    digest of the inbound message's id, to take it once; and its place in the chat's line (`Store.take_ticket`)."""

    address: str | None = None
    message: str | None = None
    place: int | None = None


LOCAL = Inbound()


@dataclass(frozen=True)
class Delivery:
    """The replies to deliver for one message, and their outbox ids to report once they are delivered."""

    replies: list[Reply]
    outbox_ids: list[int]


def _delivery(rows: list[OutboxRow]) -> Delivery:
    """The outbox rows as replies, a reply identical to the one before it left out (a crash's leftovers meeting the
    same words again)."""
    replies: list[Reply] = []
    for row in rows:
        reply = Reply.from_record(row.reply)
        if not replies or replies[-1] != reply:
            replies.append(reply)
    return Delivery(replies, [row.id for row in rows])


def _after(finished: Turn | None, turn: Turn) -> Turn:
    """The turn, preceded by the finishing of its conversation if it needed one (its route, its diagnosis)."""
    if finished is None:
        return turn
    turn.replies = finished.replies + turn.replies
    turn.diagnosis = turn.diagnosis or finished.diagnosis
    return turn


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
    nlu = settings.nlu()
    store = open_store(settings)
    versions = KnowledgeVersions(store)
    versions.adopt_package()
    live = LiveKnowledge(versions, settings.kb_refresh_seconds)
    engine = Engine(
        kb=live.current(),
        domain=load_domain(settings.domain_path),
        rules=load_dialogue_rules(),
        nlu=nlu,
        store=store,
        pseudonym_key=settings.resolved_pseudonym_key(),
        fmt=fmt,
        live=live,
        handoff_days=settings.handoff_code_days,
    )
    if finished := engine.finish_unfinished():
        logger.info("unfinished", extra={"event": "conversations_finished", "received": finished})
    return engine


def open_store(settings: Settings) -> Store:
    """The configured database, with records past the retention period deleted."""
    store = Store(settings.resolved_database_url)
    now = datetime.now(UTC)
    OutboxQueue(store).prune_processed(now - timedelta(days=settings.processed_ids_days))
    cutoff = settings.retention_cutoff(now)
    if cutoff is not None:
        conversations, diagnoses = store.purge(cutoff)
        if conversations or diagnoses:
            logger.info("retention", extra={"event": "retention_purge", "received": conversations + diagnoses})
    return store
