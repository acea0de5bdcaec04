"""What staff see when a person shows them a hand-off code (bot/handoffs.py): the person's answers as the chat names
them, the diagnosis made today with the knowledge base serving (segment, stage, size, pertinence, the route with its
deadlines and offices and what each instrument still needs) and what to confirm with them. Never who they are: no
chat id, no pseudonym, nothing the conversation did not ask.

Used by `ruta advisor show CODE` (bot/advisor_cli.py) and the staff console's "Atender con código" page; both render
`templates/advisor.j2` (plain text and HTML), which reuses the diagnosis' labels and macros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict

from bot.dialogue.changes import answer_label
from bot.dialogue.rules import DialogueRules, load_dialogue_rules
from bot.dialogue.state import ConversationState
from bot.domain import Domain, load_domain
from bot.handoffs import HandoffCodes, Lookup
from bot.kb_versions import KnowledgeVersions, checked_knowledge
from bot.render import render_template
from bot.settings import Settings
from bot.storage import Store
from knowledge import Diagnosis, KnowledgeBase, Profile, ProfileError, diagnose, load_knowledge_base, parse_profile
from knowledge.profile import PROFILE_FIELDS

__all__ = [
    "ADVISOR_WORDS_PATH",
    "AdvisorDesk",
    "AdvisorSummary",
    "Answer",
    "Attended",
    "Naming",
    "advisor_summary",
    "render_attended",
    "render_malformed",
    "serving_knowledge",
]

ADVISOR_WORDS_PATH = Path(__file__).with_name("advisor.yml")
StaffFormat = Literal["text", "html"]


class _Words(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, str]  # slot -> how staff read its question ("Comuna")


@cache
def _load_words(path: Path = ADVISOR_WORDS_PATH) -> _Words:
    return _Words.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Answer:
    """One answer: its slot, how staff read the question, the value kept and how the chat names it."""

    slot: str
    field: str
    value: Any = None
    label: str = ""


@dataclass(frozen=True)
class Naming:
    """How answers are named: the chat's button titles and number formats, and staff's names of the questions, in
    the order the chat asks them."""

    domain: Domain
    rules: DialogueRules
    fields: dict[str, str]

    @classmethod
    def load(cls, domain_path: Path) -> Naming:
        return cls(load_domain(domain_path), load_dialogue_rules(), _load_words().fields)

    @property
    def order(self) -> list[str]:
        return self.domain.forms[self.rules.form].required_slots

    def question(self, slot: str) -> Answer:
        return Answer(slot, self.fields.get(slot, slot))

    def answer(self, slot: str, value: Any) -> Answer:
        return Answer(slot, self.fields.get(slot, slot), value, answer_label(slot, value, self.domain, self.rules))


@dataclass(frozen=True)
class AdvisorSummary:
    """A conversation as staff see it; `diagnosis` is None while the person has not answered everything."""

    answers: list[Answer]
    unknown: list[Answer]  # questions the person said they did not know
    pending: Answer | None  # the question waiting for an answer (a conversation not finished)
    diagnosis: Diagnosis | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.diagnosis is not None,
            "pending": None if self.pending is None else _answer_dict(self.pending),
            "answers": [_answer_dict(answer) for answer in self.answers],
            "unknown": [_answer_dict(answer) for answer in self.unknown],
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
        }


def _answer_dict(answer: Answer) -> dict[str, Any]:
    if answer.label:
        return {"slot": answer.slot, "field": answer.field, "value": answer.value, "label": answer.label}
    return {"slot": answer.slot, "field": answer.field}


def advisor_summary(state: dict[str, Any], kb: KnowledgeBase, today: date, naming: Naming) -> AdvisorSummary:
    """The summary of a stored conversation state (`Store.load_conversation(key).state`): its answers and, once
    the diagnosis is complete ("done"), the diagnosis made with `kb` as of `today`."""
    conversation = ConversationState.model_validate(state)
    slots = {name: value for name, value in conversation.slots.items() if name in PROFILE_FIELDS}
    done = conversation.phase == "done"
    pending = conversation.requested_slot if conversation.phase == "form" else None
    return AdvisorSummary(
        answers=[naming.answer(slot, slots[slot]) for slot in naming.order if slot in slots],
        unknown=[naming.question(slot) for slot in naming.order if slot in conversation.unknown],
        pending=naming.question(pending) if pending else None,
        diagnosis=diagnose(_profile(slots, kb), kb, today) if done else None,
    )


def _profile(slots: dict[str, Any], kb: KnowledgeBase) -> Profile:
    """The profile of the answers; an answer the serving knowledge base no longer knows (a commune or sector taken
    out since) is left unknown, as the diagnosis would leave an answer not given."""
    try:
        return parse_profile(slots, kb)
    except ProfileError as exc:
        refused = {field for field, _ in exc.problems}
        return parse_profile({name: value for name, value in slots.items() if name not in refused}, kb)


@dataclass(frozen=True)
class Attended:
    """A code staff typed, on staff's calendar: what it leads to, its last valid day (also when it expired), the
    summary (None when the code is unknown or expired) and the knowledge base that made it."""

    lookup: Lookup
    today: date
    last_day: date | None
    summary: AdvisorSummary | None
    kb: KnowledgeBase | None  # None when there is no summary

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `ruta advisor show --json` (a found code)."""
        assert self.summary is not None and self.last_day is not None
        head = {"code": self.lookup.code, "valid_until": self.last_day.isoformat(), "today": self.today.isoformat()}
        return head | self.summary.to_dict()


@dataclass(frozen=True)
class AdvisorDesk:
    """Codes typed by staff -> what staff see, over one database, the knowledge base serving (`knowledge`) and the
    calendar of `zone`."""

    store: Store
    knowledge: Callable[[], KnowledgeBase]
    naming: Naming
    zone: ZoneInfo

    @classmethod
    def configured(cls, store: Store, knowledge: Callable[[], KnowledgeBase], settings: Settings) -> AdvisorDesk:
        return cls(store, knowledge, Naming.load(settings.domain_path), ZoneInfo(settings.timezone))

    def attend(self, typed: str, now: datetime | None = None) -> Attended:
        """What the code `typed` leads to at `now`. Raises MalformedCode when it cannot be a code."""
        now = now or datetime.now(UTC)
        lookup = HandoffCodes(self.store).look_up(typed, now)
        today = now.astimezone(self.zone).date()
        last_day = None if lookup.expires_at is None else lookup.expires_at.astimezone(self.zone).date()
        if lookup.user_key is None:
            return Attended(lookup, today, last_day, None, None)
        kb = self.knowledge()
        state = self.store.load_conversation(lookup.user_key).state
        return Attended(lookup, today, last_day, advisor_summary(state, kb, today, self.naming), kb)


def serving_knowledge(store: Store) -> KnowledgeBase:
    """The knowledge base the bots serve: the newest publication in the database, else the shipped one."""
    versions = KnowledgeVersions(store)
    serving = versions.serving()
    return load_knowledge_base() if serving is None else checked_knowledge(versions.files(serving.version_id))


def render_attended(attended: Attended, fmt: StaffFormat) -> str:
    """What staff read for a code: the summary, or why there is none (unknown; expired, and on which day)."""
    lookup, summary, kb = attended.lookup, attended.summary, attended.kb
    if summary is None or kb is None:
        expired_on = None if attended.last_day is None else attended.last_day.isoformat()
        return render_template("advisor.j2", fmt, kind=lookup.problem, code=lookup.code, expired_on=expired_on)
    diagnosis = summary.diagnosis
    return render_template(
        "advisor.j2",
        fmt,
        kind="summary",
        code=lookup.code,
        valid_until=attended.last_day.isoformat() if attended.last_day else "",
        today=attended.today.isoformat(),
        s=summary,
        d=None if diagnosis is None else diagnosis.to_dict(),
        profile=None if diagnosis is None else diagnosis.profile,
        instruments=kb.instruments,
        agencies=kb.agencies,
        communes=kb.communes,
        sectors=kb.sectors,
    )


def render_malformed(given: str, fmt: StaffFormat) -> str:
    """Why text staff typed is not a code (what codes look like)."""
    shown = given.strip()
    return render_template("advisor.j2", fmt, kind="malformed", given=shown[:40] + ("…" if len(shown) > 40 else ""))
