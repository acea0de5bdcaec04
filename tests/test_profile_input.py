"""The profile reader never fails with anything but a clear InputError, whatever the text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.profile_input import InputError, read_documents
from tests.fuzz import fuzz_examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(st.text(max_size=500))
def test_any_text_is_read_or_refused_clearly(text: str) -> None:
    try:
        documents = read_documents(text, 32)
    except InputError as exc:
        assert str(exc)
    else:
        assert documents


def test_json_lines_keep_their_line_numbers() -> None:
    documents = read_documents('{"age": 1}\n\n{"age": 2}\n', 32)
    assert [(d.where, d.data) for d in documents] == [("line 1", {"age": 1}), ("line 3", {"age": 2})]


def test_a_byte_order_mark_is_ignored() -> None:
    assert read_documents('\ufeff{"age": 3}', 32)[0].data == {"age": 3}


@settings(max_examples=150, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=3))
def test_any_json_gets_a_diagnosis_or_exit_2(values: list[Any]) -> None:
    text = "\n".join(json.dumps(value) for value in values)
    result = CliRunner().invoke(main, ["diagnose", "-", "--today", "2026-05-01"], input=text)
    assert result.exit_code in {0, 2}, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.stderr.startswith("ruta: ")


def _diagnose(text: str) -> Any:
    return CliRunner().invoke(main, ["diagnose", "-", "--today", "2026-05-01"], input=text)


# Issue 16: what a buggy caller or a fuzzer sent, and the line that must name the problem (exit 2, no traceback).
BAD_PROFILES = [
    ('{"workers": ' + "7" * 5000 + "}", "line 1: invalid JSON"),  # more digits than Python's int() takes
    ("[" * 1100 + "]" * 1100, "nested deeper than 32 levels"),
    ('{"a":' * 1100, "nested deeper than 32 levels"),
    ('{"monthly_sales_clp": 1' + "0" * 308 + "}", "monthly_sales_clp: must be a whole number"),
    ('{"monthly_sales_clp": 1' + "0" * 15 + "}", "monthly_sales_clp: input should be less than or equal to"),
    ('{"workers": true}', "workers: must be a whole number, got True"),
    ('{"monthly_sales_clp": false}', "monthly_sales_clp: must be a whole number, got False"),
    ('{"operating": "yes"}', "operating: must be true or false, got 'yes'"),
    ('{"workers": " 7 "}', "workers: must be a whole number, got ' 7 '"),
    ('{"workers": 7.0}', "workers: must be a whole number"),
    ('{"premises": true}', "premises: must be a text, got True"),
    ('{"commune": "' + "x" * 10_000 + '"}', "unknown commune 'xxxx"),
    ("[]", "no profile given"),
    ("[[]]", "item 1: profile: must be a JSON object, got list"),
    ('{"age": NaN}', "invalid JSON"),
    ('{"age": 40}\n{"age": 1e999}', "line 2: invalid JSON"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PROFILES, ids=[m for _, m in BAD_PROFILES])
def test_bad_profiles_exit_2_naming_the_line_and_field(text: str, message: str) -> None:
    result = _diagnose(text)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert all(len(line) < 400 for line in result.stderr.splitlines())  # a long value is quoted short


hostile_values = st.one_of(
    json_values,
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(1, 2000).map(lambda depth: "[" * depth + "]" * depth),
    st.sampled_from(["true", "false", "null", '" 7 "', "1e999", "-0", "[]", "{}"]),
)
PROFILE_KEYS = ["commune", "sector", "operating", "workers", "monthly_sales_clp", "premises", "age", "x" * 50]


@settings(max_examples=fuzz_examples(300), deadline=None, derandomize=True)
@given(st.lists(st.dictionaries(st.sampled_from(PROFILE_KEYS), hostile_values, max_size=4), min_size=1, max_size=3))
def test_any_profile_line_gets_a_diagnosis_or_exit_2(profiles: list[dict[str, Any]]) -> None:
    """Profiles with any value (huge integers, deep nesting, the wrong JSON type) as JSON lines."""
    lines = [
        "{" + ", ".join(f"{json.dumps(key)}: {_raw(value)}" for key, value in profile.items()) + "}"
        for profile in profiles
    ]
    result = _diagnose("\n".join(lines))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in {0, 2}
    if result.exit_code == 2:
        assert result.stderr.startswith("ruta: ")


def _raw(value: Any) -> str:
    """A value as JSON text; strings that are raw JSON (deep brackets, 1e999) are written as they are."""
    return value if isinstance(value, str) and value[:1] in '[{"tfn1-' else json.dumps(value)
