"""The embedded NLU backend: in-process, trained from `nlu/data` (or loaded from a cache keyed by its hash).

Intents: a scikit-learn classifier over character and word n-grams of the accent-free text. Entities: the
gazetteer (synonyms, lookup tables, annotations, with fuzzy matching) plus the number/money/duration parser.
Button payloads (`/inform{"commune": "caldera"}`) are parsed exactly.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlu.entities import numeric_entities
from nlu.features import CompiledClassifier, char_ngrams, compile_classifier, word_ngrams
from nlu.gazetteer import Gazetteer
from nlu.parse import EntityDict, IntentDict, ParseDict, normalize, parse_payload
from nlu.training_data import DATA_DIR, data_hash, load_training_data

__all__ = ["EmbeddedNlu", "train_model"]

logger = logging.getLogger(__name__)
_MODEL_VERSION = "4"  # change when the model format or the features change
_MAX_CHARS = 2_000  # longer messages are classified on their beginning (entities still read the whole text)


@dataclass
class _Model:
    classifier: CompiledClassifier
    gazetteer: Gazetteer


def train_model(paths: Sequence[Path]) -> _Model:
    """Fit the intent classifier (scikit-learn, imported only here) and build the gazetteer."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from threadpoolctl import threadpool_limits

    data = load_training_data(paths)
    vectorizers = [
        TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, lowercase=False),
        TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True, lowercase=False),
    ]
    model = LogisticRegression(C=20.0, max_iter=3000)
    pipeline = Pipeline(
        [("features", FeatureUnion([("chars", vectorizers[0]), ("words", vectorizers[1])])), ("model", model)]
    )
    with threadpool_limits(1):  # BLAS threads fight over 2 cores on tiny sparse data: 3x slower otherwise
        pipeline.fit([normalize(e.text) for e in data.examples], [e.intent for e in data.examples])
    return _Model(compile_classifier(vectorizers, model), Gazetteer.from_training_data(data))


def _load_or_train(paths: Sequence[Path], cache_dir: Path | None) -> _Model:
    key = f"{data_hash(paths)}-{_MODEL_VERSION}"
    cached = cache_dir / f"embedded-{key}.pkl" if cache_dir else None
    if cached is not None and cached.exists():
        try:
            with cached.open("rb") as handle:
                model: _Model = pickle.load(handle)
            return model
        except (OSError, pickle.UnpicklingError, AttributeError, EOFError):
            logger.warning("NLU cache %s unreadable; retraining", cached)
    model = train_model(paths)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".tmp")
            with partial.open("wb") as handle:
                pickle.dump(model, handle)
            partial.replace(cached)
        except OSError:
            logger.warning("cannot write NLU cache %s", cached)
    return model


class EmbeddedNlu:
    """In-process NLU with the same answer shape as Rasa's `/model/parse`."""

    name = "embedded"

    def __init__(self, paths: Sequence[Path] = (DATA_DIR,), cache_dir: Path | None = None) -> None:
        self._model = _load_or_train(paths, cache_dir)

    def parse(self, text: str) -> ParseDict:
        payload = parse_payload(text)
        if payload is not None:
            return payload
        return ParseDict(text=text, intent=self.intent(text), entities=self.entities(text))

    def intent(self, text: str) -> IntentDict:
        normalized = normalize(text[:_MAX_CHARS]).strip()
        if not normalized:
            return IntentDict(name="out_of_scope", confidence=0.0)
        name, confidence = self._model.classifier.predict(normalized)
        return IntentDict(name=name, confidence=confidence)

    def knows(self, entity: str, value: object) -> bool | None:
        """Whether `value` is a canonical value of `entity` in the gazetteer; None if it holds no such entity."""
        return self._model.gazetteer.knows(entity, value)

    def entities(self, text: str) -> list[EntityDict]:
        words = self._model.gazetteer.find(text)
        return sorted(words + numeric_entities(text, words), key=lambda entity: entity["start"])
