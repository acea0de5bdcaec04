"""Editing one item of the knowledge base in its file: the rest of the file, comments included, is untouched."""

from __future__ import annotations

import pytest

from bot.kb_items import KINDS, item_data, items, with_item
from knowledge.loader import read_directory, validate_files

FILES = read_directory()


@pytest.mark.parametrize("kind", KINDS)
def test_writing_back_every_item_as_read_changes_no_byte(kind):
    found = items(FILES, KINDS[kind])
    assert found
    for item in found:
        assert with_item(FILES, item, item_data(FILES, item))[item.file] == FILES[item.file], item


def test_an_edit_changes_only_the_lines_of_that_field():
    office = items(FILES, KINDS["office"])[0]
    data = item_data(FILES, office)
    edited = with_item(FILES, office, {**data, "address": "Atacama 1024, Copiapó", "hours": "lunes a viernes"})
    before, after = FILES["offices.yml"].decode().splitlines(), edited["offices.yml"].decode().splitlines()
    assert len(before) == len(after)
    changed = [old.split(":")[0].strip() for old, new in zip(before, after, strict=True) if old != new]
    assert changed == ["address", "hours"]
    base, problems = validate_files(edited)
    assert base is not None and base.offices[office.key].address == "Atacama 1024, Copiapó", problems


def test_calls_are_items_by_position_and_parameters_by_name():
    assert [item.key for item in items(FILES, KINDS["call"])][:2] == ["0", "1"]
    assert "uf_clp" in [item.key for item in items(FILES, KINDS["parameter"])]
