"""Read profiles given on the command line: one JSON object, a JSON array, or JSON lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["InputDocument", "InputError", "read_documents"]


class InputError(ValueError):
    """Input that is not JSON, or not made of JSON objects; the message says where."""


@dataclass(frozen=True)
class InputDocument:
    """One profile document and where it came from (`line 3`, `item 2`, or `input`)."""

    where: str
    data: Any


def read_documents(text: str) -> list[InputDocument]:
    """Split `text` into documents: a whole JSON value first, else one JSON value per non-blank line."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError("input: no profile given (expected a JSON object or JSON lines)")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return _json_lines(text)
    if isinstance(whole, list):
        return [InputDocument(f"item {index}", item) for index, item in enumerate(whole, start=1)]
    return [InputDocument("input", whole)]


def _json_lines(text: str) -> list[InputDocument]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append(InputDocument(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    return documents
