"""Evaluate declarative criteria against facts: met, not met, or unknown (an answer is missing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.models import Criterion, Operand, ParamRef

__all__ = ["Outcome", "evaluate", "evaluate_all"]


def _operand(value: Operand, kb: KnowledgeBase, day: date) -> Any:
    return kb.parameter(value.param, day) if isinstance(value, ParamRef) else value


def _compare(criterion: Criterion, value: Any, kb: KnowledgeBase, day: date) -> bool:
    """True when `value` passes every comparison the criterion declares."""
    checks = (
        (criterion.eq, lambda bound: value == bound),
        (criterion.ne, lambda bound: value != bound),
        (criterion.in_, lambda bound: value in bound),
        (criterion.not_in, lambda bound: value not in bound),
        (criterion.gte, lambda bound: value >= _operand(bound, kb, day)),
        (criterion.gt, lambda bound: value > _operand(bound, kb, day)),
        (criterion.lte, lambda bound: value <= _operand(bound, kb, day)),
        (criterion.lt, lambda bound: value < _operand(bound, kb, day)),
    )
    return all(check(bound) for bound, check in checks if bound is not None)


def _any_of(criterion: Criterion, facts: dict[str, Any], kb: KnowledgeBase, day: date) -> tuple[bool | None, str]:
    """Met by the first option met (whose label is given as the reason); unknown if no option fails for sure."""
    unknown = False
    for option in criterion.any_of or []:
        held, label = evaluate(option, facts, kb, day)
        if held:
            return True, label
        unknown = unknown or held is None
    return (None if unknown else False), criterion.label


def evaluate(criterion: Criterion, facts: dict[str, Any], kb: KnowledgeBase, day: date) -> tuple[bool | None, str]:
    """(True, label met) / (False, label) / (None, label) when an answer needed is unknown."""
    if criterion.confirm:
        return None, criterion.label
    if criterion.any_of is not None:
        return _any_of(criterion, facts, kb, day)
    if criterion.all_of is not None:
        held_all = [evaluate(part, facts, kb, day)[0] for part in criterion.all_of]
        return (False if False in held_all else None if None in held_all else True), criterion.label
    value = facts.get(criterion.fact or "")
    if value is None:
        return None, criterion.label
    return _compare(criterion, value, kb, day), criterion.label


@dataclass
class Outcome:
    """The labels of criteria met, not met and unknown, and prerequisites that would meet the unmet ones."""

    met: list[str] = field(default_factory=list)
    unmet: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unmet_without_prerequisite: int = 0
    prerequisites: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.unmet and not self.unknown


def evaluate_all(criteria: Iterable[Criterion], facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Outcome:
    """Evaluate every criterion; a criterion not met that has a prerequisite records that prerequisite."""
    outcome = Outcome()
    for criterion in criteria:
        held, label = evaluate(criterion, facts, kb, day)
        if held:
            outcome.met.append(label)
        elif held is None:
            outcome.unknown.append(label)
        else:
            outcome.unmet.append(label)
            if criterion.prerequisite:
                outcome.prerequisites.append(criterion.prerequisite)
            else:
                outcome.unmet_without_prerequisite += 1
    return outcome
