"""What the conversation offers besides the diagnosis: a person to talk to, the route again or as a PDF, short
lessons for people starting a business, and reminders of the calls on the route.

Each handler adds its replies to the turn; the policy then asks the pending question again, so none of this
loses an answer. What needs a finished diagnosis (the route, its PDF, lessons, reminders) is offered after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from bot.dialogue.rules import DialogueRules
from bot.dialogue.state import ConversationState
from bot.dialogue.turn import Turn
from bot.replies import Reply, Speaker
from knowledge import Diagnosis, KnowledgeBase
from knowledge.lessons import lessons_fit
from knowledge.route import instrument_card, office_for, schedule_on

__all__ = ["AFTER_ROUTE_INTENTS", "AfterRoute"]

AFTER_ROUTE_INTENTS = {
    "human_handoff",
    "show_route",
    "send_route",
    "lessons",
    "next_lesson",
    "subscribe_reminders",
    "stop_reminders",
}
NEEDS_ROUTE = {"show_route", "send_route", "subscribe_reminders"}


class AfterRoute:
    """Handles the intents of AFTER_ROUTE_INTENTS and the offers that follow a route."""

    def __init__(
        self,
        rules: DialogueRules,
        kb: KnowledgeBase,
        speaker: Speaker,
        diagnose: Callable[[ConversationState, date], Diagnosis],
    ) -> None:
        self.rules = rules
        self.kb = kb
        self.speaker = speaker
        self.diagnose = diagnose

    def handle(self, intent: str, turn: Turn, today: date) -> None:
        """Add the replies of one of AFTER_ROUTE_INTENTS to the turn."""
        done = turn.state.phase == "done"
        if intent in NEEDS_ROUTE and not done:
            turn.replies.append(self.speaker.say("utter_route_not_ready"))
        elif intent == "human_handoff":
            turn.replies.append(self._handoff(turn, today))
        elif intent == "show_route":
            diagnosis = self.diagnose(turn.state, today)
            turn.replies.append(self.speaker.diagnosis(diagnosis))
            self._add(turn, self._what_next(turn.state, diagnosis))
        elif intent == "send_route":
            turn.replies.append(self.speaker.route_document(self.diagnose(turn.state, today)))
        elif intent in {"lessons", "next_lesson"}:
            self._lesson(turn, today, start=intent == "lessons")
        elif intent == "subscribe_reminders":
            self.answer_offer(turn, True)
        else:
            turn.forget_reminders = True
            turn.replies.append(self.speaker.say("utter_reminders_off"))

    # -- after a route -----------------------------------------------------------------------------------------

    def offers(self, turn: Turn, diagnosis: Diagnosis) -> None:
        """What follows a route: what can be asked (with buttons: a person, the PDF, lessons for those starting),
        then, where a reply can reach the person later, the offer to remind the calls."""
        self._add(turn, self._what_next(turn.state, diagnosis))
        if turn.context.can_remind and self._remindable(turn.state):
            turn.state.offer = "reminders"
            self._add(turn, self.speaker.say("utter_offer_reminders"))

    def what_next(self, turn: Turn, today: date) -> None:
        """After the route, a message that changes nothing: what can be asked, with its buttons."""
        self._add(turn, self._what_next(turn.state, self.diagnose(turn.state, today)))

    def _what_next(self, state: ConversationState, diagnosis: Diagnosis) -> Reply:
        """What can be asked after the route; lessons are offered to people under 30 or with only an idea."""
        after = self.speaker.say("utter_after_diagnosis")
        if lessons_fit(state.slots.get("age"), diagnosis.stage.value, self.kb.lessons):
            return after
        return Reply(after.text, [button for button in after.buttons if button.payload != "/lessons"])

    def answer_offer(self, turn: Turn, yes: bool) -> None:
        """A yes or no to the reminders (asked after the route, or "avísame" said any time after it)."""
        instruments = self._remindable(turn.state)
        if not yes:
            turn.replies.append(self.speaker.say("utter_reminders_declined"))
        elif not turn.context.can_remind:
            turn.replies.append(self.speaker.say("utter_reminders_unavailable"))
        elif not instruments:
            turn.replies.append(self.speaker.say("utter_reminders_nothing"))
        else:
            turn.remind = instruments
            names = [self.kb.instruments[i].name for i in instruments]
            turn.replies.append(self.speaker.say("utter_reminders_on", emphasis=["programs"], programs=_listed(names)))

    def _remindable(self, state: ConversationState) -> list[str]:
        """The route's instruments that open by calls (the others can be used any day)."""
        return [i for i in state.route if i in self.kb.instruments and self.kb.instruments[i].availability == "calls"]

    def _add(self, turn: Turn, reply: Reply) -> None:
        """A reply whose buttons can also be typed; the buttons before stay (pressed again, they change nothing)."""
        turn.replies.append(reply)
        turn.state.buttons = turn.state.buttons | {button.title: button.payload for button in reply.buttons}

    # -- a person, lessons -------------------------------------------------------------------------------------

    def _handoff(self, turn: Turn, today: date) -> Reply:
        """The office for the person's commune and, once there are answers to show, the code for the advisor."""
        state = turn.state
        instrument = self.kb.instruments[self.rules.handoff_instrument]
        commune = state.slots.get("commune")
        office = office_for(instrument, str(commune) if commune else None, self.kb)
        card = instrument_card(instrument, schedule_on(instrument, self.kb, today), office)
        handoff = turn.context.handoff
        code = handoff() if handoff is not None and state.consent and state.slots else None
        return self.speaker.answer(
            "handoff", today, card=card, instrument=instrument, commune=self.kb.communes.get(str(commune)), code=code
        )

    def _lesson(self, turn: Turn, today: date, start: bool) -> None:
        """The next lesson (or the first); after the last one, the instruments meant for people starting."""
        state = turn.state
        if state.phase != "done":
            turn.replies.append(self.speaker.say("utter_lessons_after_route"))
            return
        number = 1 if start or state.lesson == 0 else state.lesson + 1
        count = self.speaker.lesson_count
        if number > count:
            number = 1
        self._add(turn, self.speaker.lesson(number, today))
        state.lesson = number
        if number == count:
            self._add(turn, self.speaker.lessons_end(today))
            state.lesson = 0


def _listed(names: list[str]) -> str:
    """ "A, B y C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]
