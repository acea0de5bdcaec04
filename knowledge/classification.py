"""Segment, family and stage of a business from the ordered rules in `rules.yml`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.criteria import evaluate_all
from knowledge.models import ClassificationRule

__all__ = ["Classification", "classify", "classify_all"]


@dataclass(frozen=True)
class Classification:
    """The value chosen, why (labels of the criteria met), and answers to confirm that could change it."""

    value: str
    explanation: str
    reasons: list[str]
    to_confirm: list[str]


def classify(rules: list[ClassificationRule], facts: dict[str, Any], kb: KnowledgeBase, day: date) -> Classification:
    """The first rule whose criteria all hold; rules skipped only for unknown answers are listed to confirm."""
    to_confirm: list[str] = []
    for rule in rules:
        outcome = evaluate_all(rule.when, facts, kb, day)
        if outcome.holds:
            return Classification(rule.value, rule.explanation, outcome.met, to_confirm)
        if not outcome.unmet:
            to_confirm.extend(label for label in outcome.unknown if label not in to_confirm)
    raise AssertionError("the last rule has no criteria, so it always holds")  # guaranteed by Rules


def classify_all(facts: dict[str, Any], kb: KnowledgeBase, day: date) -> dict[str, Classification]:
    """Segment, then stage (whose rules may use the segment); adds segment, family, stage to `facts`."""
    segment = classify(kb.rules.segment, facts, kb, day)
    facts["segment"] = segment.value
    facts["family"] = kb.rules.family[segment.value]  # type: ignore[index]
    stage = classify(kb.rules.stage, facts, kb, day)
    facts["stage"] = stage.value
    return {"segment": segment, "stage": stage}
