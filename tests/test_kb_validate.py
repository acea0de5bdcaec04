"""`ruta kb validate`: the built-in data is valid; each kind of broken data is reported with its file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from knowledge.loader import DEFAULT_DATA_DIR


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _first(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(item for item in items if all(item.get(k) == v for k, v in match.items()))


def _bad_yaml(root: Path) -> None:
    (root / "agencies.yml").write_text("- id: sercotec\n  name: [unclosed\n", encoding="utf-8")


def _duplicate_instrument(root: Path) -> None:
    sercotec = yaml.safe_load((root / "instruments" / "sercotec.yml").read_text(encoding="utf-8"))
    _edit(root / "instruments" / "sii.yml", lambda items: items.append(_first(sercotec, id="sercotec_crece")))


def _unknown_agency(root: Path) -> None:
    _edit(
        root / "instruments" / "sercotec.yml",
        lambda items: _first(items, id="sercotec_crece").update(agency="nope"),
    )


def _close_before_open(root: Path) -> None:
    _edit(root / "calls.yml", lambda items: items[0].update(opens="2025-05-01", closes="2025-04-01"))


def _no_source(root: Path) -> None:
    _edit(
        root / "instruments" / "sercotec.yml",
        lambda items: _first(items, id="sercotec_crece").update(sources=[]),
    )


def _unknown_fact(root: Path) -> None:
    def change(items: list[dict[str, Any]]) -> None:
        _first(items, id="sercotec_crece")["criteria"].append({"fact": "height", "gte": 2, "label": "ser alto"})

    _edit(root / "instruments" / "sercotec.yml", change)


def _office_gap(root: Path) -> None:
    _edit(
        root / "offices.yml",
        lambda items: [o["serves"].remove("huasco") for o in items if o["agency"] == "sii" and "huasco" in o["serves"]],
    )


def _unknown_key(root: Path) -> None:
    _edit(
        root / "instruments" / "sercotec.yml",
        lambda items: _first(items, id="sercotec_crece").update(amont=5),
    )


def _office(**update: Any) -> Callable[[Path], None]:
    """A change to the SII Copiapó office (which has no contact data) in offices.yml."""
    return lambda root: _edit(root / "offices.yml", lambda items: _first(items, id="sii_copiapo").update(update))


BROKEN: list[tuple[str, Callable[[Path], None], str]] = [
    ("bad YAML", _bad_yaml, "agencies.yml: invalid YAML"),
    (
        "duplicate id",
        _duplicate_instrument,
        "instruments/sii.yml: sercotec_crece: duplicate id (already defined in instruments/sercotec.yml)",
    ),
    (
        "unknown agency",
        _unknown_agency,
        "instruments/sercotec.yml: sercotec_crece.agency: unknown agency 'nope'",
    ),
    ("close before open", _close_before_open, "calls.yml: 0: Value error, closes 2025-04-01 is before opens"),
    (
        "instrument without source",
        _no_source,
        "instruments/sercotec.yml: sercotec_crece.sources: List should",
    ),
    ("unknown fact in a criterion", _unknown_fact, "instruments/sercotec.yml: sercotec_crece.criteria."),
    ("commune without office", _office_gap, "offices.yml: sii: no office of sii serves commune 'huasco'"),
    ("misspelt key", _unknown_key, "instruments/sercotec.yml: sercotec_crece.amont: Extra inputs"),
    (
        "office contact without a source",
        _office(address="Los Carrera 691, Copiapó", hours="lunes a viernes", source=None),
        "offices.yml: sii_copiapo.contact_source: Value error, address, hours filled without a source: give"
        " contact_source (the URL of the page it was read from) and contact_verified (the day it was read)",
    ),
    (
        "office contact source that is not a URL",
        _office(address="Los Carrera 691, Copiapó", contact_source="la oficina", contact_verified="2026-12-04"),
        "offices.yml: sii_copiapo.contact_source: Value error, 'la oficina' is not a URL",
    ),
    (
        "office contact source without the day it was read",
        _office(phone="+56 52 2 213801", contact_source="https://www.sii.cl"),
        "offices.yml: sii_copiapo.contact_verified: Value error, contact_source needs contact_verified",
    ),
    (
        "office phone without +56",
        _office(phone="(52) 213801", contact_source="https://www.sii.cl", contact_verified="2026-12-04"),
        "offices.yml: sii_copiapo.phone: Value error, phone '(52) 213801' must be +56",
    ),
]


def test_builtin_knowledge_base_is_valid() -> None:
    result = CliRunner().invoke(main, ["kb", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


@pytest.mark.parametrize(("name", "breaks", "expected"), BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_knowledge_base_is_reported(
    tmp_path: Path, name: str, breaks: Callable[[Path], None], expected: str
) -> None:
    root = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, root)
    breaks(root)
    result = CliRunner().invoke(main, ["kb", "validate", str(root)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith(expected) for line in lines), lines
    assert "Traceback" not in result.output


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["kb", "validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "agencies.yml: cannot read file" in result.output


def test_office_contact_with_only_the_older_free_text_source_is_still_accepted(tmp_path: Path) -> None:
    """Data entered before `contact_source` existed (a note in `source`) keeps validating."""
    root = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, root)
    _office(address="Los Carrera 691, Copiapó")(root)
    result = CliRunner().invoke(main, ["kb", "validate", str(root)])
    assert result.exit_code == 0, result.output
