"""One turn of the conversation: (state, parsed message) -> (new state, replies, effects).

Phases: new -> consent -> form (the diagnosis form of domain.yml) -> done. Commands (restart, delete_data,
help, privacy, bot_challenge) work in every phase; questions about instruments, deadlines, offices and words
are answered from the knowledge base in every phase and the pending question is asked again.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from bot.dialogue.after_route import AFTER_ROUTE_INTENTS, AfterRoute
from bot.dialogue.changes import accept_answers, answer_label
from bot.dialogue.rules import DialogueRules
from bot.dialogue.slots import answer_to_question, extract_slots
from bot.dialogue.state import ConversationState
from bot.dialogue.turn import Turn, TurnContext
from bot.domain import Domain
from bot.replies import Reply, Speaker
from knowledge import Diagnosis, KnowledgeBase, diagnose, parse_profile
from knowledge.profile import PROFILE_FIELDS
from knowledge.route import instrument_card, office_for, schedule_on
from nlu.parse import ParseDict

__all__ = ["Policy", "Turn", "TurnContext"]

QUESTION_INTENTS = {"ask_instrument", "ask_requirements", "ask_deadline", "ask_office", "ask_definition"}
INFO_RESPONSES = {"help": "utter_help", "privacy": "utter_privacy", "bot_challenge": "utter_bot_challenge"}
DEFAULT_OFFICE_INSTRUMENT = "sercotec_centro_negocios"
DESTRUCTIVE = {"restart", "delete_data"}  # asked to confirm unless they come as a command (/reiniciar, /borrar)


class Policy:
    """Decides the replies of one turn from the domain, the dialogue rules and the knowledge base."""

    def __init__(self, domain: Domain, rules: DialogueRules, kb: KnowledgeBase, speaker: Speaker) -> None:
        self.domain = domain
        self.rules = rules
        self.kb = kb
        self.speaker = speaker
        self.form = domain.forms[rules.form].required_slots
        self.answer_entities = {m.entity for slot in domain.slots.values() for m in slot.mappings if m.entity}
        self.after = AfterRoute(rules, kb, speaker, self._diagnose)

    # -- entry point -------------------------------------------------------------------------------------------

    def step(self, state: ConversationState, parse: ParseDict, today: date, context: TurnContext | None = None) -> Turn:
        """Handle one parsed message; a reply identical to the previous one is never sent again as it was."""
        turn = self._decide(Turn(state.model_copy(deep=True), context=context or TurnContext()), parse, today)
        return self._never_repeated(turn, state, today)

    def unsupported(self, state: ConversationState, today: date) -> Turn:
        """A voice note, photo, sticker… or an empty message: say what the bot understands and ask again."""
        return self._apologise(state, today, "utter_unsupported_message")

    def failed(self, state: ConversationState, today: date) -> Turn:
        """A message whose turn failed unexpectedly: a kind word and the pending question as it was."""
        return self._apologise(state, today, "utter_turn_failed")

    def finish(self, state: ConversationState, today: date) -> Turn:
        """The route of a conversation whose answers were all given but whose diagnosis was never stored."""
        turn = self._deliver(Turn(state.model_copy(deep=True)), today)
        turn.state.last_reply = _signature(turn.replies)
        return turn

    def _apologise(self, state: ConversationState, today: date, response: str) -> Turn:
        turn = Turn(state.model_copy(deep=True))
        turn.replies.append(self.speaker.say(response))
        if turn.state.phase == "form" and turn.state.requested_slot:  # not an answer: the question as it was
            return self._never_repeated(self._ask(turn, today), state, today)
        return self._never_repeated(turn, state, today)

    def _decide(self, turn: Turn, parse: ParseDict, today: date) -> Turn:
        intent = self._yes_or_no_taken(turn, self._intent(parse, turn.state), parse)
        if intent is None:
            return turn
        if intent == "cancel":
            turn.replies.append(self.speaker.say("utter_keep_going"))
            return self._continue(turn, today)
        if intent == "delete_data":
            return self._erase(turn, "utter_deleted")
        if intent == "restart":
            return self._restart(turn, today)
        if intent in INFO_RESPONSES:
            turn.replies.append(self.speaker.say(INFO_RESPONSES[intent]))
            return self._continue(turn, today)
        if intent in QUESTION_INTENTS:
            turn.replies.append(self._answer(intent, parse, turn.state, today))
            return self._continue(turn, today, resume=True)
        if intent in AFTER_ROUTE_INTENTS:
            self.after.handle(intent, turn, today)
            return self._continue(turn, today, resume=True)
        handler = {"new": self._new, "consent": self._consent, "form": self._form, "done": self._done}
        return handler[turn.state.phase](turn, parse, today)

    def _yes_or_no_taken(self, turn: Turn, intent: str, parse: ParseDict) -> str | None:
        """The intent to act on once the yes-or-no question asked last (a confirmation, the reminders offer) took
        its answer; None when that answer, or a confirmation asked now, is the whole turn."""
        state = turn.state
        if intent == "start_diagnosis" and state.phase == "done":
            intent = "restart"  # a new diagnosis starts from no answers: confirmed first, like a restart in words
        confirmed, state.confirming = state.confirming, None
        offer, state.offer = state.offer, None
        if offer == "reminders" and intent in {"affirm", "deny"}:
            self.after.answer_offer(turn, intent == "affirm")
            return None
        if confirmed and intent in {"affirm", "deny", confirmed}:  # asking again is a yes
            return "cancel" if intent == "deny" else confirmed
        if intent in DESTRUCTIVE and not _is_command(parse) and state.slots:
            self._confirm(turn, intent)  # a guess from free text never erases answers
            return None
        return intent

    def _hint(self, turn: Turn) -> Reply:
        """A way forward added to a reply that would repeat the last one: what can be asked, or a person."""
        after = self.speaker.say("utter_after_diagnosis")
        if turn.state.phase == "done" and turn.replies[-1].text != after.text:
            return after
        return self.speaker.say("utter_stuck")

    def _intent(self, parse: ParseDict, state: ConversationState) -> str:
        """The intent, except while a question waits: an unsure guess carrying an answer to the form, or a request
        for what follows the route carrying an answer to the question ("necesito un asesor" at the question of
        what is needed), is read as that answer; "otra", "siguiente" outside the lessons are no answer."""
        intent = parse["intent"]["name"]
        if state.phase != "form":
            return intent
        found = {entity["entity"] for entity in parse["entities"]}
        unsure = parse["intent"]["confidence"] < self.rules.intent_min_confidence
        if (unsure and intent != "inform" and found & self.answer_entities) or (
            intent in AFTER_ROUTE_INTENTS and found & self._entities_of(state.requested_slot)
        ):
            return "inform"
        return "out_of_scope" if intent == "next_lesson" else intent

    def _entities_of(self, slot: str | None) -> set[str]:
        """The entity types that answer `slot`."""
        if slot is None:
            return set()
        return {mapping.entity for mapping in self.domain.slots[slot].mappings if mapping.entity}

    def _confirm(self, turn: Turn, intent: str) -> Turn:
        """Ask before erasing the answers given so far ("¿Quieres empezar de nuevo?")."""
        turn.state.confirming = intent
        reply = self.speaker.say(f"utter_confirm_{intent}")
        turn.state.buttons = {button.title: button.payload for button in reply.buttons}
        turn.replies.append(reply)
        return turn

    def _never_repeated(self, turn: Turn, before: ConversationState, today: date) -> Turn:
        """The same replies as last turn mean the person is stuck: help more (the question moves on, or a hint)."""
        if turn.replies and not turn.erase and _signature(turn.replies) == before.last_reply:
            state = turn.state
            if state.phase == "form" and state.requested_slot and not state.confirming and turn.replies[-1].buttons:
                turn.replies.pop()
                state.attempts += 1
                turn = self._ask(turn, today)
            else:
                turn.replies.append(self._hint(turn))
        turn.state.last_reply = _signature(turn.replies)
        return turn

    # -- phases ------------------------------------------------------------------------------------------------

    def _new(self, turn: Turn, parse: ParseDict, today: date) -> Turn:
        """Greet, keep what the first message already said (not stored as a diagnosis), ask for consent."""
        turn.state.pending = extract_slots(parse, self.domain, self.rules, self.rules.form, None).values
        turn.state.phase = "consent"
        turn.replies += [self.speaker.say("utter_greet"), self.speaker.say("utter_ask_consent")]
        return turn

    def _consent(self, turn: Turn, parse: ParseDict, today: date) -> Turn:
        consent = extract_slots(parse, self.domain, self.rules, self.rules.consent_form, "consent").values
        if consent.get("consent") is False:
            return self._erase(turn, "utter_consent_declined")
        if consent.get("consent") is not True:
            turn.replies.append(self.speaker.say("utter_reask_consent", buttons_from="utter_ask_consent"))
            return turn
        state = turn.state
        state.consent, state.phase = True, "form"
        self._fill(state, state.pending)
        state.pending = {}
        turn.replies.append(self.speaker.say("utter_consent_thanks"))
        return self._next_question(turn, today)

    def _form(self, turn: Turn, parse: ParseDict, today: date) -> Turn:
        state = turn.state
        intent = parse["intent"]["name"]
        if intent == "dont_know" and state.requested_slot:
            self._mark_unknown(state, state.requested_slot)
            turn.replies.append(self.speaker.say("utter_noted_unknown"))
            return self._next_question(turn, today)
        if intent == "greet" and not parse["entities"]:
            return self._continue(turn, today, resume=True)
        if intent in {"thank", "goodbye"}:
            turn.replies.append(self.speaker.say(f"utter_{intent}"))
            return turn if intent == "goodbye" else self._continue(turn, today)
        if intent == "out_of_scope":  # off-topic while a question waits: an unusable answer, so help more
            turn.replies.append(self.speaker.say("utter_out_of_scope"))
            state.attempts += 1
            return self._ask(turn, today)
        found = extract_slots(parse, self.domain, self.rules, self.rules.form, state.requested_slot)
        found = answer_to_question(found, parse, self.domain, self.rules, state.requested_slot)
        accepted = accept_answers(state.slots, found, parse, state.requested_slot, self.rules)
        aside = [n for n in accepted.values if n not in accepted.changed and n != state.requested_slot]
        self._fill(state, accepted.values)
        turn.replies += self._say_changed(accepted.changed, state)
        if state.requested_slot not in accepted.values:  # answers to later questions: say they were kept
            turn.replies += self._say_changed(aside, state, response="utter_noted")
        if found.invalid and not accepted.values:
            turn.replies.append(self.speaker.say("utter_invalid_value"))
        if not accepted.values:
            state.attempts += 1
            return self._ask(turn, today)
        return self._next_question(turn, today)

    def _done(self, turn: Turn, parse: ParseDict, today: date) -> Turn:
        """After the route: a correction or a missing answer gives a new route; else the hint of what to ask."""
        state = turn.state
        found = extract_slots(parse, self.domain, self.rules, self.rules.form, None)
        accepted = accept_answers(state.slots, found, parse, None, self.rules)
        added = [name for name in accepted.values if state.slots.get(name) is None]
        self._fill(state, accepted.values)
        if accepted.changed or added:
            turn.replies += self._say_changed(accepted.changed + added, state)
            return self._deliver(turn, today)
        name = {"thank": "utter_thank", "goodbye": "utter_goodbye"}.get(parse["intent"]["name"])
        if name is None:
            self.after.what_next(turn, today)
        else:
            turn.replies.append(self.speaker.say(name))
        return turn

    def _say_changed(self, slots: list[str], state: ConversationState, response: str = "utter_changed") -> list[Reply]:
        """'Cambié tu rubro a Comida. Si no es así, dime tu rubro.' for every answer changed, in words."""
        return [
            self.speaker.say(
                response,
                emphasis=["value"],
                name=self.rules.answer_names[slot].name,
                value=answer_label(slot, state.slots[slot], self.domain, self.rules),
            )
            for slot in slots
            if slot in self.rules.answer_names
        ]

    # -- helpers -----------------------------------------------------------------------------------------------

    def _continue(self, turn: Turn, today: date, resume: bool = False) -> Turn:
        """After an interruption: ask the pending question again (or consent) so nothing is lost."""
        phase = turn.state.phase
        if phase == "consent":
            turn.replies.append(self.speaker.say("utter_ask_consent"))
        elif phase == "form":
            if resume:
                turn.replies.append(self.speaker.say("utter_resume"))
            return self._ask(turn, today)
        elif phase == "new":
            turn.state.phase = "consent"
            turn.replies.append(self.speaker.say("utter_ask_consent"))
        return turn

    def _erase(self, turn: Turn, response: str) -> Turn:
        turn.state = ConversationState()
        turn.erase = True
        turn.replies.append(self.speaker.say(response))
        return turn

    def _restart(self, turn: Turn, today: date) -> Turn:
        consent, last_reply = turn.state.consent, turn.state.last_reply
        turn.state = ConversationState(consent=consent, phase="form" if consent else "consent", last_reply=last_reply)
        turn.replies.append(self.speaker.say("utter_restart"))
        if not consent:
            turn.replies.append(self.speaker.say("utter_ask_consent"))
            return turn
        return self._next_question(turn, today)

    def _fill(self, state: ConversationState, values: dict[str, Any]) -> None:
        """Store answers (the caller decided which may be stored)."""
        for name, value in values.items():
            if name not in PROFILE_FIELDS:
                continue
            state.slots[name] = value
            if name in state.unknown:
                state.unknown.remove(name)
            if name in self.rules.implies_operating and value and state.slots.get("operating") is None:
                state.slots["operating"] = True

    def _mark_unknown(self, state: ConversationState, slot: str) -> None:
        state.slots.pop(slot, None)
        if slot not in state.unknown:
            state.unknown.append(slot)

    def _missing_slot(self, state: ConversationState) -> str | None:
        for slot in self.form:
            if slot in state.slots or slot in state.unknown:
                continue
            skip = self.rules.skip.get(slot)
            if skip and all(state.slots.get(k) == v for k, v in skip.when.items()):
                state.slots[slot] = skip.value
                continue
            return slot
        return None

    def _next_question(self, turn: Turn, today: date) -> Turn:
        state = turn.state
        slot = self._missing_slot(state)
        if slot != state.requested_slot:
            state.attempts = 0
        state.requested_slot = slot
        if slot is None:
            return self._deliver(turn, today)
        return self._ask(turn, today)

    def _ask(self, turn: Turn, today: date) -> Turn:
        """The pending question, with more help each time; after `max_asks` times in a row, move on."""
        state = turn.state
        if state.requested_slot is None:
            turn.replies.append(self.speaker.say("utter_after_diagnosis"))
            return turn
        if state.attempts >= self.rules.max_asks:
            self._mark_unknown(state, state.requested_slot)
            turn.replies.append(self.speaker.say("utter_move_on"))
            return self._next_question(turn, today)
        reply = self.speaker.ask(state.requested_slot, state.attempts, self.rules.max_reasks)
        state.buttons = {button.title: button.payload for button in reply.buttons}
        turn.replies.append(reply)
        return turn

    def _deliver(self, turn: Turn, today: date) -> Turn:
        """Diagnose the answers and send the route."""
        state = turn.state
        diagnosis = self._diagnose(state, today)
        state.phase, state.requested_slot = "done", None  # the last buttons stay: pressed again, they change nothing
        state.route = [step.result.instrument.id for step in diagnosis.route]
        turn.diagnosis = diagnosis
        turn.replies += [self.speaker.say("utter_diagnosis_ready"), self.speaker.diagnosis(diagnosis)]
        self.after.offers(turn, diagnosis)
        return turn

    def _diagnose(self, state: ConversationState, today: date) -> Diagnosis:
        profile = parse_profile({k: v for k, v in state.slots.items() if k in PROFILE_FIELDS}, self.kb)
        return diagnose(profile, self.kb, today)

    # -- answers from the knowledge base -------------------------------------------------------------------------

    def _answer(self, intent: str, parse: ParseDict, state: ConversationState, today: date) -> Reply:
        values = {e["entity"]: e["value"] for e in reversed(parse["entities"])}
        if intent == "ask_definition":
            term = self.kb.glossary.get(str(values.get("term")))
            return (
                self.speaker.answer("definition", today, term=term) if term else self.speaker.say("utter_unknown_term")
            )
        instrument_id = self._instrument_asked(values, state, intent)
        if instrument_id is None:
            return self.speaker.say("utter_unknown_instrument")
        instrument = self.kb.instruments[instrument_id]
        commune_id = str(values.get("commune") or state.slots.get("commune") or "") or None
        card = instrument_card(
            instrument, schedule_on(instrument, self.kb, today), office_for(instrument, commune_id, self.kb)
        )
        kind = {"ask_deadline": "deadline", "ask_office": "office", "ask_requirements": "requirements"}.get(
            intent, "instrument"
        )
        return self.speaker.answer(
            kind,
            today,
            instrument=instrument,
            agency=self.kb.agencies[instrument.agency],
            card=card,
            commune=self.kb.communes.get(commune_id) if commune_id else None,
            result=self._result_for(state, instrument_id, today),
        )

    def _result_for(self, state: ConversationState, instrument_id: str, today: date) -> dict[str, Any] | None:
        """The user's verdict on an instrument once the diagnosis is done (recomputed: it is cheap)."""
        if state.phase != "done":
            return None
        results = self._diagnose(state, today).instruments
        return next((r.to_dict() for r in results if r.instrument.id == instrument_id), None)

    def _instrument_asked(self, values: dict[str, Any], state: ConversationState, intent: str) -> str | None:
        """The instrument named, else the first of the user's route from the agency named, else a default."""
        named = values.get("instrument") or self.rules.term_instruments.get(str(values.get("term")))
        if named in self.kb.instruments:
            return str(named)
        agency = values.get("agency")
        candidates = state.route + list(self.kb.instruments)
        if agency:
            return next((i for i in candidates if self.kb.instruments[i].agency == agency), None)
        return DEFAULT_OFFICE_INSTRUMENT if intent == "ask_office" else None


def _signature(replies: list[Reply]) -> str:
    """A short digest of what was said (the text itself is not kept in the state)."""
    return hashlib.blake2s("\x00".join(reply.text for reply in replies).encode(), digest_size=8).hexdigest()


def _is_command(parse: ParseDict) -> bool:
    """A command or a button payload (/reiniciar, /restart): what the person chose, not what the NLU guessed."""
    return parse["text"].startswith("/")
