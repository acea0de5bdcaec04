"""Text features of the intent classifier, and its compiled form used at run time.

Training uses scikit-learn (TfidfVectorizer with these analyzers, LogisticRegression). The fitted model is
then compiled into plain NumPy arrays (`CompiledClassifier`): the same TF-IDF weighting and linear scores,
without importing scikit-learn in the bot process, so start-up stays short and a turn takes microseconds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CompiledClassifier", "char_ngrams", "compile_classifier", "word_ngrams"]

_SPACES = re.compile(r"\s\s+")
_WORDS = re.compile(r"\w+")
CHAR_RANGE = (2, 5)


def char_ngrams(text: str) -> list[str]:
    """Character 2- to 5-grams inside words padded with spaces (like scikit-learn's `char_wb`)."""
    grams: list[str] = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for size in range(CHAR_RANGE[0], CHAR_RANGE[1] + 1):
            if len(padded) < size:
                break
            grams.extend(padded[i : i + size] for i in range(len(padded) - size + 1))
    return grams


def word_ngrams(text: str) -> list[str]:
    """Words and word pairs."""
    words = _WORDS.findall(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass
class _Block:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int


@dataclass
class CompiledClassifier:
    """A fitted TF-IDF + logistic-regression classifier as arrays: `predict(text) -> (label, probability)`."""

    classes: list[str]
    blocks: list[_Block]
    coef_by_feature: np.ndarray  # one row of class weights per feature
    intercept: np.ndarray

    def probabilities(self, text: str) -> np.ndarray:
        scores = self.intercept.copy()
        for block in self.blocks:
            counts = Counter(g for g in block.analyzer(text) if g in block.vocabulary)
            if not counts:
                continue
            columns = np.fromiter((block.vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
            weights = np.fromiter((1.0 + math.log(n) for n in counts.values()), dtype=np.float64, count=len(counts))
            weights *= block.idf[columns]
            weights /= np.linalg.norm(weights)
            scores += weights @ self.coef_by_feature[columns + block.offset]
        exp = np.exp(scores - scores.max())
        result: np.ndarray = exp / exp.sum()
        return result

    def predict(self, text: str) -> tuple[str, float]:
        probabilities = self.probabilities(text)
        best = int(probabilities.argmax())
        return self.classes[best], float(probabilities[best])


def compile_classifier(vectorizers: list[Any], model: Any) -> CompiledClassifier:
    """Arrays of fitted scikit-learn TfidfVectorizers (sublinear tf, l2) and a multinomial LogisticRegression."""
    blocks, offset = [], 0
    for vectorizer in vectorizers:
        vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        blocks.append(_Block(vectorizer.analyzer, vocabulary, np.asarray(vectorizer.idf_, dtype=np.float64), offset))
        offset += len(vocabulary)
    return CompiledClassifier(
        classes=[str(c) for c in model.classes_],
        blocks=blocks,
        coef_by_feature=np.ascontiguousarray(np.asarray(model.coef_, dtype=np.float64).T),
        intercept=np.asarray(model.intercept_, dtype=np.float64),
    )
