"""The knowledge base as items staff edit one at a time: an instrument, a call, an office, a commune, a parameter,
a lesson.

Each kind names its model (the form is generated from it) and where its items live in the data files. An item
is read and written back inside its file with ruamel.yaml's round trip, so the comments and the order of the
files survive an edit made in the console, and `ruta kb export` still gives files a person wants to read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import FoldedScalarString

from knowledge.loader import KnowledgeFiles
from knowledge.models import Call, Commune, Instrument, Lesson, Office, Parameter

__all__ = ["KINDS", "Item", "ItemKind", "item_data", "items", "with_item"]

_TOP_LEVEL_INDENT = re.compile(rb"(?m)^  (?!\s*#)")  # comments are written where they were


@dataclass(frozen=True)
class ItemKind:
    """One kind of item: its model, the files that hold it, and how an item is named in its file."""

    name: str
    label: str  # Spanish, for staff
    model: type[BaseModel]
    files: str  # a file, or a folder prefix ending in "/"
    keyed_by: str  # "id": a list of mappings with `id`; "index": a list without ids; "key": a mapping
    under: str | None = None  # the items are the list under this key of the file's mapping (lessons.yml: lessons)

    def holds(self, path: str) -> bool:
        return path == self.files or (self.files.endswith("/") and path.startswith(self.files))


KINDS = {
    kind.name: kind
    for kind in (
        ItemKind("instrument", "Instrumentos", Instrument, "instruments/", "id"),
        ItemKind("call", "Convocatorias", Call, "calls.yml", "index"),
        ItemKind("office", "Oficinas", Office, "offices.yml", "id"),
        ItemKind("commune", "Comunas (mapa de oportunidades)", Commune, "communes.yml", "id"),
        ItemKind("parameter", "Parámetros con fecha", Parameter, "parameters.yml", "key"),
        ItemKind("lesson", "Lecciones para partir", Lesson, "lessons.yml", "id", under="lessons"),
    )
}


@dataclass(frozen=True)
class Item:
    """Where one item is: its kind, file and key (id, index as text, or mapping key), and a title."""

    kind: str
    file: str
    key: str
    title: str


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order and quoting survive
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(type(None), _null)
    return yaml


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _load(content: bytes) -> Any:
    return _yaml().load(content)


def _dump(document: Any) -> bytes:
    """The files' own layout: nested lists indented under their key, a file's top-level list at column 0."""
    out = io.BytesIO()
    _yaml().dump(document, out)
    text = out.getvalue()
    return _TOP_LEVEL_INDENT.sub(b"", text) if isinstance(document, list) else text


def items(files: KnowledgeFiles, kind: ItemKind) -> list[Item]:
    """Every item of a kind, in file order."""
    return [item for path in sorted(files) if kind.holds(path) for item in _items_in(path, files[path], kind)]


def _items_in(path: str, content: bytes, kind: ItemKind) -> Iterator[Item]:
    document = _within(_load(content), kind)
    if kind.keyed_by == "key" and isinstance(document, dict):
        for key, value in document.items():
            yield Item(kind.name, path, str(key), str(value.get("description", key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            key = str(value.get("id")) if kind.keyed_by == "id" else str(index)
            yield Item(kind.name, path, key, _title(value, kind))


def _title(value: Any, kind: ItemKind) -> str:
    if kind.name == "call":
        return f"{value.get('instrument')} {value.get('year')} (cierra {value.get('closes')})"
    return str(value.get("name") or value.get("title") or value.get("id"))


def _within(document: Any, kind: ItemKind) -> Any:
    """Where the kind's items are in a parsed file: the file itself, or the list under `kind.under`."""
    if kind.under is None:
        return document
    return document.get(kind.under) if isinstance(document, dict) else None


def item_data(files: KnowledgeFiles, item: Item) -> dict[str, Any]:
    """The item's data as plain Python values (what its form shows)."""
    container, slot = _locate(_load(files[item.file]), item)
    data: dict[str, Any] = _plain(container[slot])
    return data


def with_item(files: KnowledgeFiles, item: Item, data: dict[str, Any]) -> dict[str, bytes]:
    """The files with the item replaced by `data` (fields keep their order; removed optional fields go away)."""
    document = _load(files[item.file])
    container, slot = _locate(document, item)
    old = container[slot]
    new = CommentedMap()
    for key in [*(k for k in old if k in data), *(k for k in data if k not in old)]:
        if data[key] is not None or key in old:
            new[key] = _kept_style(old.get(key), data[key])
    if isinstance(old, CommentedMap):
        new.ca.items.update({k: v for k, v in old.ca.items.items() if k in new})
    container[slot] = new
    return {**files, item.file: _dump(document)}


def _kept_style(old: Any, value: Any) -> Any:
    """The old node when the value did not change (its quotes and flow style stay); a list keeps its flow style, a
    long text its folded block (`>-`)."""
    if old is not None and _plain(old) == value:
        return old
    if isinstance(value, list) and isinstance(old, CommentedSeq) and old.fa.flow_style():
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and isinstance(old, FoldedScalarString) and _FOLDABLE.fullmatch(value):
        return _folded(value)
    return value


_FOLD_WIDTH = 100
_FOLDABLE = re.compile(r"[^\s](?:[^\S\n]?\S)*(?:\n[^\s](?:[^\S\n]?\S)*)*")  # single spaces, no blank lines


def _folded(text: str) -> FoldedScalarString:
    """`text` as a folded block whose lines break at a space once they pass `_FOLD_WIDTH` characters."""
    folded: FoldedScalarString = FoldedScalarString(text)
    positions, line_start, last_space = [], 0, None
    for index, char in enumerate(text):
        if char == "\n":
            line_start, last_space = index + 1, None
        elif char == " ":
            if index - line_start > _FOLD_WIDTH and last_space is not None:
                positions.append(last_space)
                line_start = last_space + 1
            last_space = index
    folded.fold_pos = positions  # type: ignore[attr-defined]  # ruamel reads it when dumping
    return folded


def _locate(document: Any, item: Item) -> tuple[Any, Any]:
    """(container, slot) of the item in its parsed file; KeyError if it is not there."""
    document = _within(document, KINDS[item.kind])
    if isinstance(document, dict):
        if item.key not in document:
            raise KeyError(item.key)
        return document, item.key
    if not isinstance(document, CommentedSeq | list):
        raise KeyError(item.key)
    if item.key.isdigit() and KINDS[item.kind].keyed_by == "index":
        index = int(item.key)
        if index >= len(document):
            raise KeyError(item.key)
        return document, index
    found = next((i for i, value in enumerate(document) if str(value.get("id")) == item.key), None)
    if found is None:
        raise KeyError(item.key)
    return document, found


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalars as plain dicts, lists, strings, numbers and dates."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
