"""Strict parsers for Telegram's formatting modes (HTML, MarkdownV2 and legacy Markdown).

They turn a message text into the plain text plus Bot API ``MessageEntity`` dicts (offsets in UTF-16 code units),
or raise ``EntityError`` with the reason the Bot API would give after "Bad Request: can't parse entities: ".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EntityError", "ParsedText", "parse_text", "utf16_len"]


class EntityError(ValueError):
    """The text is not valid in its parse mode."""


@dataclass(frozen=True)
class ParsedText:
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


class _LazyOffset:
    """Formats as the UTF-8 byte offset of ``source[index]``, computed only when an error message needs it."""

    __slots__ = ("index", "source")

    def __init__(self, source: str, index: int) -> None:
        self.source, self.index = source, index

    def __str__(self) -> str:
        return str(byte_offset(self.source, self.index))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def byte_offset(source: str, index: int) -> int:
    """UTF-8 byte offset of ``source[index]``, the position Telegram reports in parse errors."""
    return len(source[:index].encode())


def parse_text(text: str, parse_mode: str | None) -> ParsedText:
    """Parse ``text`` in ``parse_mode`` (None or "" for plain text); ValueError for an unknown mode."""
    mode = (parse_mode or "").lower()
    if not mode:
        return ParsedText(text)
    parser = _PARSERS.get(mode)
    if parser is None:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    return parser(text)


class _Builder:
    """Accumulates plain text and entities, tracking the UTF-16 length."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.length += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            self.entities.append({"type": kind, "offset": start, "length": self.length - start, **extra})

    def result(self) -> ParsedText:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.parts), entities)


# --- HTML -----------------------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TOKEN = re.compile(r"<(/?)([^\s<>/]*)([^<>]*)>|&([^;\s<>&]*);|[<>&]")
_HTML_ATTR = re.compile(r"""\s*([A-Za-z][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


@dataclass
class _OpenTag:
    name: str
    start: int
    attrs: dict[str, str]
    language: str | None = None


def _parse_attrs(raw: str, name: str, offset: object) -> dict[str, str]:
    attrs: dict[str, str] = {}
    pos = 0
    raw = raw.rstrip()
    while pos < len(raw):
        match = _HTML_ATTR.match(raw, pos)
        if match is None or match.end() == pos:
            raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
        value = next((v for v in match.group(2, 3, 4) if v is not None), "")
        attrs[match.group(1).lower()] = html.unescape(value)
        pos = match.end()
    return attrs


def _check_tag(tag: _OpenTag, offset: object) -> None:
    if tag.name not in _HTML_TAGS:
        raise EntityError(f'Unsupported start tag "{tag.name}" at byte offset {offset}')
    if tag.name == "a" and not tag.attrs.get("href"):
        raise EntityError(f'Tag "a" must have attribute "href" at byte offset {offset}')
    if tag.name == "span" and tag.attrs.get("class") != "tg-spoiler":
        raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')


def _decode_entity(name: str, offset: object) -> str:
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    match = re.fullmatch(r"#(?:x([0-9a-fA-F]{1,8})|([0-9]{1,10}))", name)
    code = -1 if match is None else int(match.group(1), 16) if match.group(1) else int(match.group(2))
    if not 0 < code <= 0x10FFFF:
        raise EntityError(f'Unsupported HTML entity "&{name};" at byte offset {offset}')
    return chr(code)


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.out = _Builder()
        self.stack: list[_OpenTag] = []

    def run(self) -> ParsedText:
        pos = 0
        for match in _HTML_TOKEN.finditer(self.source):
            self.out.add(self.source[pos : match.start()])
            self._token(match)
            pos = match.end()
        self.out.add(self.source[pos:])
        if self.stack:
            raise EntityError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        return self.out.result()

    def _token(self, match: re.Match[str]) -> None:
        offset = _LazyOffset(self.source, match.start())
        if match.lastindex is None:
            raise EntityError(f"Unescaped '{match.group(0)}' at byte offset {offset}; use &lt; &gt; or &amp;")
        if match.group(4) is not None:
            self.out.add(_decode_entity(match.group(4), offset))
        elif match.group(1):
            self._close(match.group(2).lower(), match.group(3), offset)
        else:
            name = match.group(2).lower()
            tag = _OpenTag(name, self.out.length, _parse_attrs(match.group(3), name, offset))
            _check_tag(tag, offset)
            self.stack.append(tag)

    def _close(self, name: str, rest: str, offset: object) -> None:
        if not self.stack:
            raise EntityError(f"Unexpected end tag at byte offset {offset}")
        top = self.stack[-1]
        if name != top.name or rest.strip():
            raise EntityError(f'Unmatched end tag at byte offset {offset}, expected "</{top.name}>", found "</{name}>"')
        self.stack.pop()
        self._emit(top)

    def _emit(self, tag: _OpenTag) -> None:
        parent = self.stack[-1] if self.stack else None
        if tag.name == "code" and parent is not None and parent.name == "pre":
            parent.language = tag.attrs.get("class", "").removeprefix("language-") or None
            return
        kind = _HTML_TAGS[tag.name]
        extra: dict[str, Any] = {}
        if kind == "text_link":
            extra["url"] = tag.attrs["href"]
        elif kind == "pre" and tag.language:
            extra["language"] = tag.language
        elif kind == "blockquote" and "expandable" in tag.attrs:
            kind = "expandable_blockquote"
        self.out.entity(kind, tag.start, **extra)


def parse_html(source: str) -> ParsedText:
    return _HtmlParser(source).run()


# --- MarkdownV2 -----------------------------------------------------------------------------------------------------

_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_MD2_PLAIN = re.compile(r"[^\\`|_*~\[\]()>#+\-={}.!\n]+")


class _MarkdownV2Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # (marker, output offset, source index)
        self.quote_start: int | None = None

    def run(self) -> ParsedText:
        while self.i < len(self.src):
            self._step()
        self._end_quote()
        if self.stack:
            marker, _, index = self.stack[-1]
            name = _MD2_NAMES[_MD2_TOGGLES.get(marker, "text_link")]
            raise EntityError(f"Can't find end of {name} entity at byte offset {byte_offset(self.src, index)}")
        return self.out.result()

    def _step(self) -> None:
        src, i = self.src, self.i
        plain = _MD2_PLAIN.match(src, i)
        if plain:
            self.out.add(plain.group(0))
            self.i = plain.end()
            return
        char = src[i]
        two = src[i : i + 2]
        if char == "\\":
            self._escape()
        elif char == "\n":
            self._newline()
        elif char == "`":
            self._code()
        elif two in ("||", "__"):
            self._toggle(two)
        elif char in "*_~":
            self._toggle(char)
        elif char == "[" or two == "![":
            self.stack.append((two if char == "!" else char, self.out.length, i))
            self.i += len(two) if char == "!" else 1
        elif char == "]":
            self._link_end()
        elif char == ">" and (i == 0 or src[i - 1] == "\n"):
            self._quote()
        else:
            self._reserved(i)

    def _reserved(self, index: int) -> None:
        char = self.src[index]
        raise EntityError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")

    def _escape(self) -> None:
        nxt = self.src[self.i + 1 : self.i + 2]
        if not nxt or not 1 <= ord(nxt) <= 126:
            self._reserved(self.i)
        self.out.add(nxt)
        self.i += 2

    def _toggle(self, marker: str) -> None:
        if marker == "__" and self.stack and self.stack[-1][0] == "_":
            marker = "_"  # "___" closes italic first
        self.i += len(marker)
        if self.stack and self.stack[-1][0] == marker:
            _, start, _ = self.stack.pop()
            self.out.entity(_MD2_TOGGLES[marker], start)
        elif any(open_marker == marker for open_marker, _, _ in self.stack):
            _, _, index = self.stack[-1]
            name = _MD2_NAMES[_MD2_TOGGLES.get(self.stack[-1][0], "text_link")]
            raise EntityError(f"Can't find end of {name} entity at byte offset {byte_offset(self.src, index)}")
        else:
            self.stack.append((marker, self.out.length, self.i - len(marker)))

    def _until(self, start: int, end: str, what: str) -> tuple[str, int]:
        """Read escaped text from ``start`` up to the unescaped ``end``; (text, index after ``end``)."""
        parts: list[str] = []
        i = start
        while not self.src.startswith(end, i):
            if i >= len(self.src):
                raise EntityError(f"Can't find end of {what} entity at byte offset {byte_offset(self.src, start - 1)}")
            if self.src[i] == "\\" and i + 1 < len(self.src):
                i += 1
            parts.append(self.src[i])
            i += 1
        return "".join(parts), i + len(end)

    def _code(self) -> None:
        start = self.out.length
        if self.src.startswith("```", self.i):
            body, self.i = self._until(self.i + 3, "```", "Pre")
            first, newline, rest = body.partition("\n")
            language = first if newline and first and " " not in first else None
            self.out.add(rest if language else body)
            self.out.entity("pre", start, **({"language": language} if language else {}))
        else:
            body, self.i = self._until(self.i + 1, "`", "Code")
            self.out.add(body)
            self.out.entity("code", start)

    def _link_end(self) -> None:
        if not self.stack or self.stack[-1][0] not in ("[", "![") or self.src[self.i + 1 : self.i + 2] != "(":
            self._reserved(self.i)
        marker, start, _ = self.stack.pop()
        url, self.i = self._until(self.i + 2, ")", "TextUrl")
        if marker == "![":
            self.out.entity("custom_emoji", start, custom_emoji_id=url.rpartition("id=")[2])
        else:
            self.out.entity("text_link", start, url=url)

    def _quote(self) -> None:
        if self.quote_start is None:
            self.quote_start = self.out.length
        self.i += 1

    def _newline(self) -> None:
        if self.quote_start is not None and self.src[self.i + 1 : self.i + 2] != ">":
            self._end_quote()
        self.out.add("\n")
        self.i += 1

    def _end_quote(self) -> None:
        if self.quote_start is not None:
            self.out.entity("blockquote", self.quote_start)
            self.quote_start = None


def parse_markdown_v2(source: str) -> ParsedText:
    return _MarkdownV2Parser(source).run()


# --- legacy Markdown ------------------------------------------------------------------------------------------------

_MD_TOKEN = re.compile(r"\\([_*`\[])|```(.*?)```|`(.*?)`|\*(.*?)\*|_(.*?)_|\[([^\]]*)\]\(([^)]*)\)|([*_`\[])", re.S)
_MD_KINDS = {1: None, 2: "pre", 3: "code", 4: "bold", 5: "italic", 7: "text_link"}  # by the last matched group


def parse_markdown(source: str) -> ParsedText:
    """Legacy "Markdown": no nesting; an unclosed marker is an error."""
    out = _Builder()
    pos = 0
    for match in _MD_TOKEN.finditer(source):
        out.add(source[pos : match.start()])
        pos = match.end()
        if match.group(8) is not None:
            offset = byte_offset(source, match.start())
            raise EntityError(f"Can't find end of the entity starting at byte offset {offset}")
        start = out.length
        out.add(next(g for g in match.group(1, 2, 3, 4, 5, 6) if g is not None))
        kind = _MD_KINDS[match.lastindex or 1]
        if kind:
            out.entity(kind, start, **({"url": match.group(7)} if kind == "text_link" else {}))
    out.add(source[pos:])
    return out.result()


_PARSERS = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}
