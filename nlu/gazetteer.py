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
# Function words, accent-free: never an entity on their own (in a longer phrase, "de todo un poco", they may be).
# Accent stripping makes some of them equal to a lookup ("unas" is the article, not "uñas").
_FUNCTION_WORDS = frozenset(
    {
        *("el", "la", "lo", "los", "las", "un", "una", "uno", "unos", "unas", "al", "del"),
        *("a", "ante", "con", "contra", "de", "desde", "en", "entre", "hacia", "hasta", "para", "pa", "pal"),
        *("por", "sin", "sobre", "tras", "y", "e", "o", "u", "ni", "que", "pero", "como", "cuando", "donde"),
        *("yo", "tu", "te", "ti", "me", "mi", "mis", "su", "sus", "se", "le", "les", "nos", "usted", "ustedes"),
        *("este", "esta", "esto", "estos", "estas", "ese", "esa", "eso", "esos", "esas", "aquel", "aquella"),
        *("ya", "tan", "muy", "poco", "mucho", "todo", "toda", "todos", "todas", "algo", "nada", "cada"),
    }
)
# Correctly spelled everyday words one edit away from a phrase that they do not mean ("otras" is not "ostras",
# "copia" is not "copiapo", "crecer" is not the Crece programme): never read as a typo of that phrase. Found by
# running the gazetteer over a Spanish word-frequency list (tests/nlu/test_weak_spots.py keeps them out).
# Words of the training examples outside any annotation are known words too (see `Gazetteer.known_words`).
_NOT_TYPOS = frozenset(
    {
        *("aplicaciones", "avion", "calientes", "caliente", "caras", "carece", "carreras", "carreteras"),
        *("colectiva", "columnas", "complejo", "complejos", "completa", "conservar", "contado", "contando"),
        *("copia", "crecer", "crecen", "cuerpo", "cuidado", "excelente", "excelentes", "exploracion"),
        *("explorar", "explotacion", "explotar", "ganador", "ganando", "herrera", "lanza", "libre", "marcador"),
        *("natural", "otras", "palma", "patas", "patrones", "pecado", "pesado", "pinera", "persona"),
        *("personas", "personales", "planetas", "prestado", "residencia", "salas", "soldado", "soldados"),
        *("urnas",),
    }
)


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


class Gazetteer:
    """Maps normalised phrases to (entity, canonical value) and finds them in messages."""

    def __init__(
        self,
        phrases: dict[str, tuple[str, str]],
        known_words: frozenset[str] = frozenset(),
        accented: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.phrases = phrases
        # phrases that only their accents tell from a function word ("uñas" / "unas"): matched as written
        self.accented = accented or {}
        # correctly spelled words: matched exactly or not at all, never "corrected" into another phrase
        self.known_words = known_words | _NOT_TYPOS | _FUNCTION_WORDS
        self._by_words: dict[int, list[str]] = defaultdict(list)
        for phrase in phrases:
            self._by_words[len(phrase.split())].append(phrase)
        self._values: dict[str, set[str]] = defaultdict(set)
        for entity, value in phrases.values():
            self._values[entity].add(value)

    def knows(self, entity: str, value: object) -> bool | None:
        """Whether `value` is a canonical value of `entity`; None if no phrase gives that entity."""
        values = self._values.get(entity)
        return None if values is None else value in values

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
        meanings = {phrase: counter.most_common(1)[0][0] for phrase, counter in votes.items() if phrase}
        phrases = {
            phrase: meaning
            for phrase, meaning in meanings.items()
            if phrase not in _AMBIGUOUS_WORDS and phrase not in _FUNCTION_WORDS
        }
        accented = {
            surface.lower(): meanings[_key(surface)]
            for surface in [*data.synonyms, *(e for elements in data.lookups.values() for e in elements)]
            if _key(surface) in meanings and _key(surface) not in phrases and surface.lower() != _key(surface)
        }
        return cls(_without_redundant_articles(phrases), _plain_words(data), accented)

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
                start, end = tokens[first].start, tokens[first + size - 1].end
                hit = self._match(phrase, size) or self.accented.get(text[start:end].lower())
                if hit is not None:
                    found.append(EntityDict(entity=hit[0], value=hit[1], start=start, end=end, extractor="gazetteer"))
                    taken[first : first + size] = [True] * size
        return sorted(found, key=lambda entity: entity["start"])

    def _match(self, phrase: str, size: int) -> tuple[str, str] | None:
        exact = self.phrases.get(phrase)
        if exact is not None or len(phrase) < _FUZZY_MIN_CHARS or size > 3:
            return exact
        if self.known_words.issuperset(phrase.split()):  # "la fecha" is not a typo of "la ficha"
            return None
        best = process.extractOne(
            phrase, self._by_words.get(size, []), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF, processor=None
        )
        # a typo rarely hits the first letter; "informacion" is not "formacion"
        return self.phrases[best[0]] if best and best[0][0] == phrase[0] else None


def _key(surface: str) -> str:
    return " ".join(match.group() for match in _WORD.finditer(normalize(surface)))


def _without_redundant_articles(phrases: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Drop "el semilla" when "semilla" means the same: else it takes the article of "el semilla inicia"."""
    kept: dict[str, tuple[str, str]] = {}
    for phrase, meaning in phrases.items():
        first, _, rest = phrase.partition(" ")
        if not (rest and first in _FUNCTION_WORDS and phrases.get(rest) == meaning):
            kept[phrase] = meaning
    return kept


def _plain_words(data: TrainingData) -> frozenset[str]:
    """Normalised words that the training examples use outside any entity annotation."""
    words: set[str] = set()
    for example in data.examples:
        cursor = 0
        for ann in sorted(example.entities, key=lambda annotation: annotation.start):
            words.update(_key(example.text[cursor : ann.start]).split())
            cursor = max(cursor, ann.end)
        words.update(_key(example.text[cursor:]).split())
    return frozenset(words)
