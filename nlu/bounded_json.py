"""JSON from outside the process, bounded: its size and nesting are checked before it is parsed.

Python's own `json` recurses once per level and dies with RecursionError on a deeply nested document; it also
refuses integers of more than 4,300 digits with a ValueError. orjson parses in C (it refuses more than 1,024
levels, integers wider than a double and NaN with its JSONDecodeError), and the depth check here refuses far less
nesting before any parser runs. Every failure is a `JsonRefused` (a ValueError) whose message says why, never
what the document held.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["JsonRefused", "json_depth", "loads_bounded"]

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_OPENING = frozenset(b"[{")


class JsonRefused(ValueError):
    """A document that is too large, too deep or not JSON; the message says which, in plain words."""


def json_depth(raw: bytes, limit: int) -> int:
    """How deeply `raw` nests arrays and objects, counting stops at `limit` + 1 (strings are skipped)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in _OPENING else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def loads_bounded(raw: str | bytes, *, max_depth: int, max_bytes: int | None = None) -> Any:
    """The JSON value of `raw`, or JsonRefused if it is over `max_bytes`, nests over `max_depth` or is not JSON."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonRefused(f"larger than {max_bytes} bytes")
    if json_depth(data, max_depth) > max_depth:
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonRefused(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
