"""Evaluate declarative criteria against facts: met, not met, or unknown (an answer is missing).

Each criterion is compiled once into a small closure (cached by the knowledge base it is evaluated with),
so diagnosing thousands of profiles does not re-read the criterion models every time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.models import Criterion, ParamRef

__all__ = ["Outcome", "evaluate_all"]

Verdict = tuple[bool | None, str]
Check = Callable[[dict[str, Any], KnowledgeBase, date], Verdict]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in_": lambda value, bound: value in bound,
    "not_in": lambda value, bound: value not in bound,
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}
_COMPILED: dict[int, tuple[Criterion, Check]] = {}
_COMPILED_LISTS: dict[int, tuple[Sequence[Criterion], list[tuple[Check, str | None]]]] = {}


def _compile_confirm(label: str) -> Check:
    """A condition the conversation cannot know: always to confirm."""
    verdict: Verdict = (None, label)

    def check(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Verdict:
        return verdict

    return check


def _compile_any_of(label: str, parts: list[Check]) -> Check:
    """Met by the first option met (whose label is the reason); unknown if no option fails for sure."""

    def check(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Verdict:
        unknown = False
        for part in parts:
            held, reason = part(facts, kb, day)
            if held:
                return True, reason
            unknown = unknown or held is None
        return (None if unknown else False), label

    return check


def _compile_all_of(label: str, parts: list[Check]) -> Check:
    """Met when every part is met; not met as soon as one part fails; otherwise unknown."""

    def check(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Verdict:
        held_all = [part(facts, kb, day)[0] for part in parts]
        return (False if False in held_all else None if None in held_all else True), label

    return check


def _compile_fact(criterion: Criterion) -> Check:
    """A comparison of one fact with every bound the criterion declares (bounds may be dated parameters)."""
    name, label = criterion.fact or "", criterion.label
    bounds = [(_OPERATORS[op], bound) for op in _OPERATORS if (bound := getattr(criterion, op)) is not None]
    fixed = [(compare, bound) for compare, bound in bounds if not isinstance(bound, ParamRef)]
    dated = [(compare, bound.param) for compare, bound in bounds if isinstance(bound, ParamRef)]

    def check(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Verdict:
        value = facts.get(name)
        if value is None:
            return None, label
        for compare, bound in fixed:
            if not compare(value, bound):
                return False, label
        for compare, param in dated:
            if not compare(value, kb.parameter(param, day)):
                return False, label
        return True, label

    return check


def _compile(criterion: Criterion) -> Check:
    cached = _COMPILED.get(id(criterion))
    if cached is not None and cached[0] is criterion:
        return cached[1]
    label = criterion.label
    check: Check
    if criterion.confirm:
        check = _compile_confirm(label)
    elif criterion.any_of is not None:
        check = _compile_any_of(label, [_compile(part) for part in criterion.any_of])
    elif criterion.all_of is not None:
        check = _compile_all_of(label, [_compile(part) for part in criterion.all_of])
    else:
        check = _compile_fact(criterion)
    _COMPILED[id(criterion)] = (criterion, check)
    return check


class Outcome:
    """The labels of criteria met, not met and unknown, and prerequisites that would meet the unmet ones."""

    __slots__ = ("met", "prerequisites", "unknown", "unmet", "unmet_without_prerequisite")

    def __init__(self) -> None:
        self.met: list[str] = []
        self.unmet: list[str] = []
        self.unknown: list[str] = []
        self.unmet_without_prerequisite = 0
        self.prerequisites: list[str] = []

    @property
    def holds(self) -> bool:
        return not self.unmet and not self.unknown


def _compile_list(criteria: Sequence[Criterion]) -> list[tuple[Check, str | None]]:
    cached = _COMPILED_LISTS.get(id(criteria))
    if cached is not None and cached[0] is criteria:
        return cached[1]
    compiled = [(_compile(criterion), criterion.prerequisite) for criterion in criteria]
    _COMPILED_LISTS[id(criteria)] = (criteria, compiled)
    return compiled


def evaluate_all(criteria: Sequence[Criterion], facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Outcome:
    """Evaluate every criterion; a criterion not met that has a prerequisite records that prerequisite."""
    outcome = Outcome()
    for check, prerequisite in _compile_list(criteria):
        held, label = check(facts, kb, day)
        if held:
            outcome.met.append(label)
        elif held is None:
            outcome.unknown.append(label)
        else:
            outcome.unmet.append(label)
            if prerequisite:
                outcome.prerequisites.append(prerequisite)
            else:
                outcome.unmet_without_prerequisite += 1
    return outcome
