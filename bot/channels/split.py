"""Split a long message into parts a chat service accepts, at the cleanest boundary available.

Boundaries are tried in order: blank line (a paragraph, e.g. one route step), line break, space. Templates keep
every HTML tag within one line, so a part never opens a tag it does not close. Length is counted in UTF-16
code units, as Telegram does (an emoji counts twice).
"""

from __future__ import annotations

__all__ = ["split_message", "utf16_length"]

SEPARATORS = ("\n\n", "\n", " ")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int) -> list[str]:
    """Parts of `text`, each at most `limit` UTF-16 units, none empty; joined they give back the text's words."""
    text = text.strip()
    if utf16_length(text) <= limit:
        return [text] if text else []
    for separator in SEPARATORS:
        pieces = text.split(separator)
        if len(pieces) > 1:
            return _pack(pieces, separator, limit)
    return _hard_split(text, limit)


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Greedily join pieces while they fit; a piece too long on its own is split further."""
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{separator}{piece}" if current else piece
        if utf16_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        if utf16_length(piece) <= limit:
            current = piece
        else:
            parts += split_message(piece, limit)
            current = ""
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _hard_split(text: str, limit: int) -> list[str]:
    """A single word longer than the limit: cut it by characters."""
    parts: list[str] = []
    current = ""
    for char in text:
        if utf16_length(current + char) > limit:
            parts.append(current)
            current = ""
        current += char
    return [*parts, current] if current else parts
