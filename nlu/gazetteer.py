"""Entities from words: synonyms, lookup tables and annotated examples, matched exactly or fuzzily."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from nlu.parse import EntityDict, normalize
from nlu.training_data import TrainingData

__all__ = ["GAZETTEER_ENTITIES", "Gazetteer"]

GAZETTEER_ENTITIES = ("commune", "sector", "instrument", "agency", "gender", "premises", "surplus", "need", "term")
_WORD = re.compile(r"\w+(?:[%]|\b)")
_MAX_WORDS = 5
_FUZZY_MIN_CHARS = 5
_FUZZY_CUTOFF = 87.0
# Everyday words that are also entity values ("otro" is a sector id): never an entity on their own.
_AMBIGUOUS_WORDS = frozenset({"otro", "otra", "otros", "otras", "mas", "casa", "vez", "dia", "bien", "si", "no"})


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


class Gazetteer:
    """Maps normalised phrases to (entity, canonical value) and finds them in messages."""

    def __init__(self, phrases: dict[str, tuple[str, str]]) -> None:
        self.phrases = phrases
        self._by_words: dict[int, list[str]] = defaultdict(list)
        for phrase in phrases:
            self._by_words[len(phrase.split())].append(phrase)

    @classmethod
    def from_training_data(cls, data: TrainingData) -> Gazetteer:
        """Phrases from annotations, synonyms and lookup tables; ambiguous phrases take their commonest value."""
        votes: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        value_entity: dict[str, Counter[str]] = defaultdict(Counter)
        for example in data.examples:
            for ann in example.entities:
                if ann.entity in GAZETTEER_ENTITIES:
                    value = ann.value or data.synonyms.get(ann.text.lower(), ann.text)
                    votes[_key(ann.text)][(ann.entity, value)] += 1
                    value_entity[value][ann.entity] += 1
        for surface, value in data.synonyms.items():
            if value_entity[value]:
                votes[_key(surface)][(value_entity[value].most_common(1)[0][0], value)] += 1
        for entity, elements in data.lookups.items():
            if entity in GAZETTEER_ENTITIES:
                for element in elements:
                    mapped = data.synonyms.get(element.lower())
                    if mapped is not None:
                        votes[_key(element)][(entity, mapped)] += 1
        phrases = {
            phrase: counter.most_common(1)[0][0]
            for phrase, counter in votes.items()
            if phrase and phrase not in _AMBIGUOUS_WORDS
        }
        return cls(phrases)

    def find(self, text: str) -> list[EntityDict]:
        """Longest phrases first, exact then fuzzy; matches never overlap."""
        tokens = [_Token(m.group(), m.start(), m.end()) for m in _WORD.finditer(normalize(text))]
        taken = [False] * len(tokens)
        found: list[EntityDict] = []
        for size in range(min(_MAX_WORDS, len(tokens)), 0, -1):
            for first in range(len(tokens) - size + 1):
                if any(taken[first : first + size]):
                    continue
                phrase = " ".join(token.text for token in tokens[first : first + size])
                hit = self._match(phrase, size)
                if hit is not None:
                    start, end = tokens[first].start, tokens[first + size - 1].end
                    found.append(EntityDict(entity=hit[0], value=hit[1], start=start, end=end, extractor="gazetteer"))
                    taken[first : first + size] = [True] * size
        return sorted(found, key=lambda entity: entity["start"])

    def _match(self, phrase: str, size: int) -> tuple[str, str] | None:
        exact = self.phrases.get(phrase)
        if exact is not None or len(phrase) < _FUZZY_MIN_CHARS or size > 3:
            return exact
        best = process.extractOne(
            phrase, self._by_words.get(size, []), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF, processor=None
        )
        # a typo rarely hits the first letter; "informacion" is not "formacion"
        return self.phrases[best[0]] if best and best[0][0] == phrase[0] else None


def _key(surface: str) -> str:
    return " ".join(match.group() for match in _WORD.finditer(normalize(surface)))
