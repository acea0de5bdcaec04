"""Quality on the held-out split that training never sees (nlu/heldout), for both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu.evaluation import evaluate
from nlu.parse import NluBackend
from nlu.training_data import DATA_DIR, load_training_data

HELDOUT = Path(__file__).parents[2] / "nlu" / "heldout"


def test_heldout_is_disjoint_from_training() -> None:
    training = {example.text.lower() for example in load_training_data([DATA_DIR]).examples}
    heldout = [example.text.lower() for example in load_training_data([HELDOUT]).examples]
    assert heldout and not [text for text in heldout if text in training]


def test_every_domain_intent_is_trained_with_40_examples() -> None:
    counts: dict[str, int] = {}
    for example in load_training_data([DATA_DIR]).examples:
        counts[example.intent] = counts.get(example.intent, 0) + 1
    assert min(counts.values()) >= 40, counts


def test_embedded_backend_meets_the_quality_targets(embedded_nlu: NluBackend) -> None:
    report = evaluate(embedded_nlu, load_training_data([HELDOUT]), load_training_data([DATA_DIR]).synonyms)
    assert report.intent_accuracy >= 0.95, report.to_dict()
    assert report.entity_f1 >= 0.90, report.to_dict()


@pytest.mark.rasa
def test_rasa_backend_is_evaluated_on_the_same_split(rasa_nlu: NluBackend, embedded_nlu: NluBackend) -> None:
    heldout, synonyms = load_training_data([HELDOUT]), load_training_data([DATA_DIR]).synonyms
    fallbacks = getattr(rasa_nlu, "fallbacks", 0)
    rasa = evaluate(rasa_nlu, heldout, synonyms)
    assert getattr(rasa_nlu, "fallbacks", 0) == fallbacks, "some answers came from the embedded fallback"
    assert rasa.examples > 100 and rasa.intent_accuracy >= 0.80, rasa.to_dict()
    embedded = evaluate(embedded_nlu, heldout, synonyms)
    assert embedded.intent_accuracy >= rasa.intent_accuracy, {"embedded": embedded.to_dict(), "rasa": rasa.to_dict()}
