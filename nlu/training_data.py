"""Read Rasa 3 NLU training data (YAML): annotated examples, synonyms and lookup tables."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DATA_DIR", "Annotation", "Example", "TrainingData", "data_hash", "load_training_data", "parse_annotated"]

DATA_DIR = Path(__file__).parent / "data"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]\[]+)\](?:\((?P<entity>[^)(]+)\)|(?P<json>\{[^{}]*\}))")


@dataclass(frozen=True)
class Annotation:
    """An entity annotated in an example: `[text](entity)` or `[text]{"entity": …, "value": …, "role": …}`."""

    entity: str
    text: str
    start: int
    end: int
    value: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class Example:
    """One training (or test) message with its intent and annotated entities."""

    text: str
    intent: str
    entities: tuple[Annotation, ...] = ()


@dataclass
class TrainingData:
    """Examples, synonyms (surface form -> canonical value) and lookup tables (name -> elements)."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)


def parse_annotated(line: str) -> tuple[str, tuple[Annotation, ...]]:
    """Plain text and entity annotations of one Rasa example line."""
    pieces: list[str] = []
    entities: list[Annotation] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(line):
        before = line[cursor : match.start()]
        pieces.append(before)
        length += len(before)
        surface = match.group("text")
        details: dict[str, Any] = (
            json.loads(match.group("json")) if match.group("json") else {"entity": match.group("entity")}
        )
        entity, _, value = str(details["entity"]).partition(":")  # legacy `(entity:value)`
        entities.append(
            Annotation(
                entity=entity,
                text=surface,
                start=length,
                end=length + len(surface),
                value=details.get("value") or value or None,
                role=details.get("role"),
            )
        )
        pieces.append(surface)
        length += len(surface)
        cursor = match.end()
    pieces.append(line[cursor:])
    return "".join(pieces), tuple(entities)


def _examples(block: str) -> Iterable[str]:
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            yield stripped[2:].strip()


def _read_file(path: Path, data: TrainingData) -> None:
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in content.get("nlu", []) or []:
        if "intent" in item:
            for line in _examples(item.get("examples", "")):
                text, entities = parse_annotated(line)
                data.examples.append(Example(text, item["intent"], entities))
        elif "synonym" in item:
            for line in _examples(item.get("examples", "")):
                data.synonyms[line.lower()] = str(item["synonym"])
        elif "lookup" in item:
            data.lookups.setdefault(item["lookup"], []).extend(_examples(item.get("examples", "")))


def load_training_data(paths: Iterable[Path]) -> TrainingData:
    """Merge every YAML file (or every *.yml under each directory) into one TrainingData."""
    data = TrainingData()
    for path in paths:
        for file in sorted(path.glob("*.yml")) if path.is_dir() else [path]:
            _read_file(file, data)
    return data


def data_hash(paths: Iterable[Path]) -> str:
    """A short hash of the files' contents: the key of a trained model's cache."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.glob("*.yml")) if path.is_dir() else [path]:
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]
