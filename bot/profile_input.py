"""Read profiles given on the command line: one JSON object, a JSON array, or JSON lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlu.bounded_json import JsonRefused, loads_bounded

__all__ = ["InputDocument", "InputError", "read_documents"]


class InputError(ValueError):
    """Input that is not JSON, or not made of JSON objects; the message says where."""


@dataclass(frozen=True)
class InputDocument:
    """One profile document and where it came from (`line 3`, `item 2`, or `input`)."""

    where: str
    data: Any


def read_documents(text: str, max_depth: int) -> list[InputDocument]:
    """Split `text` into documents: a whole JSON value first, else one JSON value per non-blank line.

    Nothing nested deeper than `max_depth` is parsed (a profile is flat; the limit only keeps the parser safe)."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError(NO_PROFILE)
    try:
        whole = loads_bounded(text, max_depth=max_depth)
    except JsonRefused:
        return _json_lines(text, max_depth)
    if isinstance(whole, list):
        if not whole:
            raise InputError(NO_PROFILE)
        return [InputDocument(f"item {index}", item) for index, item in enumerate(whole, start=1)]
    return [InputDocument("input", whole)]


NO_PROFILE = "input: no profile given (expected a JSON object, a JSON array of them or JSON lines)"


def _json_lines(text: str, max_depth: int) -> list[InputDocument]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = loads_bounded(line, max_depth=max_depth)
        except JsonRefused as exc:
            raise InputError(f"line {number}: {exc}") from None
        documents.append(InputDocument(f"line {number}", value))
    return documents
