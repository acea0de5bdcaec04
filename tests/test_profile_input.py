"""The profile reader never fails with anything but a clear InputError, whatever the text."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.profile_input import InputError, read_documents

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(st.text(max_size=500))
def test_any_text_is_read_or_refused_clearly(text: str) -> None:
    try:
        documents = read_documents(text)
    except InputError as exc:
        assert str(exc)
    else:
        assert documents


def test_json_lines_keep_their_line_numbers() -> None:
    documents = read_documents('{"age": 1}\n\n{"age": 2}\n')
    assert [(d.where, d.data) for d in documents] == [("line 1", {"age": 1}), ("line 3", {"age": 2})]


def test_a_byte_order_mark_is_ignored() -> None:
    assert read_documents('\ufeff{"age": 3}')[0].data == {"age": 3}


@settings(max_examples=150, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=3))
def test_any_json_gets_a_diagnosis_or_exit_2(values: list[Any]) -> None:
    text = "\n".join(json.dumps(value) for value in values)
    result = CliRunner().invoke(main, ["diagnose", "-", "--today", "2026-05-01"], input=text)
    assert result.exit_code in {0, 2}, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.stderr.startswith("ruta: ")
