"""Forms generated from the knowledge base's pydantic models: one form per kind of item, never one per field.

`form_fields` turns a model and an item's data into fields with a widget chosen from each field's type (text,
long text, number, date, yes/no, one choice, several choices, one value per line, and YAML for nested
structures such as criteria). `read_form` turns what a browser posted back into the item's data, with a
Spanish message beside each field it cannot read. Whether the data then makes a valid knowledge base is
decided by the same validation as `ruta kb validate` (`field_errors` puts its problems beside their fields).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from knowledge.loader import Problem

__all__ = ["FormField", "field_errors", "form_fields", "read_form", "spanish"]

Widget = Literal["text", "textarea", "number", "date", "checkbox", "select", "checkboxes", "lines", "yaml"]
CONSOLE_TEXTS = Path(__file__).with_name("kb_console.yml")


@dataclass(frozen=True)
class FormField:
    """One field of a generated form, ready for the template."""

    name: str  # the key in the data file (the alias: `in`, `from`)
    label: str
    widget: Widget
    required: bool
    choices: tuple[str, ...] = ()
    value: Any = None  # what the widget shows: text, or the chosen values for checkboxes
    error: str | None = None
    help: str | None = None


@cache
def _texts() -> dict[str, Any]:
    texts: dict[str, Any] = yaml.safe_load(CONSOLE_TEXTS.read_text(encoding="utf-8"))
    return texts


def _key(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _bare(annotation: Any) -> tuple[Any, bool]:
    """The annotation without None, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(get_args(annotation))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), optional  # noqa: UP007
    return annotation, False


def _widget(name: str, annotation: Any) -> tuple[Widget, tuple[str, ...]]:
    bare = annotation
    origin = get_origin(bare)
    if origin is Literal:
        return "select", tuple(str(choice) for choice in get_args(bare))
    if origin is list:
        (item,) = get_args(bare)
        if get_origin(item) is Literal:
            return "checkboxes", tuple(str(choice) for choice in get_args(item))
        return ("lines", ()) if _is_text(item) else ("yaml", ())
    if bare is bool:
        return "checkbox", ()
    if bare in (int, float):
        return "number", ()
    if bare is date:
        return "date", ()
    if _is_text(bare):
        return ("textarea" if name in _texts()["long_fields"] else "text"), ()
    return "yaml", ()


def _is_text(annotation: Any) -> bool:
    return annotation is str or (get_origin(annotation) is not None and get_args(annotation)[:1] == (str,))


def form_fields(
    model: type[BaseModel], data: Mapping[str, Any], errors: Mapping[str, str] | None = None
) -> list[FormField]:
    """The fields of `model`'s form showing `data` (an item as read, or as posted), with errors beside them."""
    labels, helps = _texts()["labels"], _texts()["help"]
    fields = []
    for name, info in model.model_fields.items():
        key = _key(name, info)
        bare, optional = _bare(info.annotation)
        widget, choices = _widget(key, bare)
        fields.append(
            FormField(
                name=key,
                label=labels.get(key, key),
                widget=widget,
                required=info.is_required() and not optional,
                choices=choices,
                value=_shown(widget, data.get(key)),
                error=(errors or {}).get(key),
                help=helps.get(key),
            )
        )
    return fields


def _shown(widget: Widget, value: Any) -> Any:
    if widget == "checkboxes":
        return [str(v) for v in value or []]
    if widget == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if widget == "lines":
        return "\n".join(str(v) for v in value)
    if widget == "yaml":
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=100).strip()
    return str(value)


def read_form(
    model: type[BaseModel], form: Mapping[str, Any], before: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The item's data from a posted form (`form.getlist` for several choices), and what could not be read.

    A field the item did not have (`before`) and that the form leaves at the model's default is not added."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, info in model.model_fields.items():
        key = _key(name, info)
        bare = _bare(info.annotation)[0]
        try:
            value = _read(_widget(key, bare)[0], bare, form, key)
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if key in before or info.is_required() or value != info.get_default(call_default_factory=True):
            data[key] = value
    return data, errors


def _read(widget: Widget, annotation: Any, form: Mapping[str, Any], key: str) -> Any:
    if widget == "checkboxes":
        getlist = getattr(form, "getlist", None)
        return list(getlist(key)) if getlist else list(form.get(key) or [])
    if widget == "checkbox":
        return key in form
    raw = str(form.get(key, "")).replace("\r\n", "\n").strip()  # browsers send a text box's lines with CRLF
    if not raw:
        return [] if widget == "lines" else None
    readers = {"number": _number, "date": _date, "lines": _lines, "yaml": _yaml_value}
    reader = readers.get(widget)
    return reader(raw, annotation) if reader else raw


def _number(raw: str, annotation: Any) -> int | float:
    try:
        return int(raw) if annotation is int else float(raw.replace(",", "."))
    except ValueError:
        raise ValueError(spanish("Input should be a valid number")) from None


def _date(raw: str, _: Any) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(spanish("Input should be a valid date")) from None


def _lines(raw: str, _: Any) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _yaml_value(raw: str, _: Any) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValueError(f"YAML inválido: {' '.join(str(exc).split())[:160]}") from None


def field_errors(problems: list[Problem], file: str, label: str) -> tuple[dict[str, str], list[str]]:
    """The validation problems of one item (`label`: how their paths name it, e.g. `lessons.validar_idea`), beside
    its fields; the rest (other items, other files) apart."""
    beside: dict[str, str] = {}
    apart: list[str] = []
    named = label.split(".")
    for problem in problems:
        parts = problem.path.split(".")
        mine = problem.file == file and parts[: len(named)] == named
        field = parts[len(named)] if len(parts) > len(named) else _field_named_by(problem.message)
        if mine and field:
            beside.setdefault(field, spanish(problem.message))
        elif mine:
            apart.append(spanish(problem.message))
        else:
            apart.append(f"{problem.file}: {problem.path}: {spanish(problem.message)}".replace(": : ", ": "))
    return beside, apart


def _field_named_by(message: str) -> str | None:
    """The field a whole-item check is about, when its message says (`message_fields` in kb_console.yml)."""
    fields: dict[str, str] = _texts()["message_fields"]
    return next((field for pattern, field in fields.items() if re.fullmatch(pattern, message, re.DOTALL)), None)


def spanish(message: str) -> str:
    """A validation message in Spanish for staff (patterns in kb_console.yml); unknown ones as they are."""
    for pattern, template in _texts()["messages"].items():
        match = re.fullmatch(pattern, message.strip(), flags=re.DOTALL)
        if match:
            return str(template).format(*match.groups())
    return message
