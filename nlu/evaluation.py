"""Evaluate an NLU backend on annotated examples: intent accuracy, macro-F1, entity precision/recall/F1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nlu.numbers import find_numbers
from nlu.parse import NluBackend
from nlu.training_data import Annotation, Example, TrainingData

__all__ = ["Report", "evaluate"]


@dataclass(frozen=True)
class Report:
    """Figures of one evaluation run."""

    examples: int
    intent_accuracy: float
    intent_macro_f1: float
    entity_precision: float
    entity_recall: float
    entity_f1: float
    errors: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "intent_accuracy": round(self.intent_accuracy, 4),
            "intent_macro_f1": round(self.intent_macro_f1, 4),
            "entity_precision": round(self.entity_precision, 4),
            "entity_recall": round(self.entity_recall, 4),
            "entity_f1": round(self.entity_f1, 4),
        }


def _expected_value(annotation: Annotation, synonyms: dict[str, str]) -> Any:
    """The canonical value of an annotation: numbers through the number parser, words through synonyms."""
    if annotation.entity in {"number", "money", "duration"}:
        matches = find_numbers(annotation.text)
        return matches[0].value if matches else annotation.text
    return annotation.value or synonyms.get(annotation.text.lower(), annotation.text)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    labels = {label for pair in pairs for label in pair}
    scores = []
    for label in labels:
        tp = sum(1 for gold, got in pairs if gold == label and got == label)
        fp = sum(1 for gold, got in pairs if gold != label and got == label)
        fn = sum(1 for gold, got in pairs if gold == label and got != label)
        scores.append(_f1(tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0))
    return sum(scores) / len(scores) if scores else 0.0


def evaluate(backend: NluBackend, test: TrainingData, synonyms: dict[str, str]) -> Report:
    """Parse every test example; entities count as right when (entity, value) match."""
    pairs: list[tuple[str, str]] = []
    true_positive = predicted = gold_total = 0
    errors: list[dict[str, Any]] = []
    for example in test.examples:
        result = backend.parse(example.text)
        pairs.append((example.intent, result["intent"]["name"]))
        gold = Counter((a.entity, str(_expected_value(a, synonyms))) for a in example.entities)
        got = Counter((e["entity"], str(e["value"])) for e in result["entities"])
        true_positive += sum((gold & got).values())
        predicted += sum(got.values())
        gold_total += sum(gold.values())
        if example.intent != result["intent"]["name"] or gold != got:
            errors.append(_error(example, result, gold, got))
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / gold_total if gold_total else 1.0
    accuracy = sum(1 for gold_intent, got_intent in pairs if gold_intent == got_intent) / max(len(pairs), 1)
    return Report(len(pairs), accuracy, _macro_f1(pairs), precision, recall, _f1(precision, recall), errors)


def _error(
    example: Example, result: Any, gold: Counter[tuple[str, str]], got: Counter[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "text": example.text,
        "intent": example.intent,
        "predicted": result["intent"]["name"],
        "missing_entities": sorted(gold - got),
        "extra_entities": sorted(got - gold),
    }
