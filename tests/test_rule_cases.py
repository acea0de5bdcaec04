"""Rule cases from tests/cases/rules/*.yml: a profile and a day -> the diagnosis they must give.

Each file has `base` (a `today` and a `profile` every case starts from) and `cases`; a case overrides profile
fields and states only what it checks:
  segment / family / stage / size: exact values;   pertinence: the level;
  instruments: {id: {eligible, status, reasons: [substrings], missing: [substrings], to_confirm: [...]}};
  route: {starts_with: [ids], includes: [ids], excludes: [ids], order: [ids in relative order]};
  steps: {id: {status, opens, closes, days_left, estimate, office}} for steps of the route.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from knowledge import KnowledgeBase, diagnose, parse_profile

CASE_DIR = Path(__file__).parent / "cases" / "rules"


def _load_cases() -> list[tuple[str, date, dict[str, Any], dict[str, Any]]]:
    cases = []
    for path in sorted(CASE_DIR.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        base = content["base"]
        for case in content["cases"]:
            profile = {**base["profile"], **case.get("profile", {})}
            cases.append((f"{path.stem}: {case['name']}", case.get("today", base["today"]), profile, case["expect"]))
    return cases


CASES = _load_cases()


def _contains_all(found: list[str], expected: list[str], what: str) -> None:
    for fragment in expected:
        assert any(fragment in item for item in found), f"{what}: no item contains {fragment!r} in {found}"


def _check_instruments(result: dict[str, Any], expected: dict[str, Any]) -> None:
    by_id = {item["id"]: item for item in result["instruments"]}
    for instrument, wanted in expected.items():
        got = by_id[instrument]
        for key, value in wanted.items():
            if key in {"reasons", "missing", "to_confirm"}:
                _contains_all(got[key], value, f"{instrument}.{key}")
            else:
                assert got[key] == value, f"{instrument}.{key}: {got}"


def _check_route(result: dict[str, Any], expected: dict[str, Any]) -> None:
    ids = [step["instrument"] for step in result["route"]]
    assert ids[: len(expected.get("starts_with", []))] == expected.get("starts_with", []), ids
    for instrument in expected.get("includes", []):
        assert instrument in ids, f"{instrument} not in route {ids}"
    for instrument in expected.get("excludes", []):
        assert instrument not in ids, f"{instrument} in route {ids}"
    order = [ids.index(instrument) for instrument in expected.get("order", [])]
    assert order == sorted(order), f"route {ids} not in order {expected['order']}"


def _check_steps(result: dict[str, Any], expected: dict[str, Any]) -> None:
    steps = {step["instrument"]: step for step in result["route"]}
    for instrument, wanted in expected.items():
        step = steps[instrument]
        for key, value in wanted.items():
            got = step["office"]["id"] if key == "office" and step["office"] else step[key]
            want = value.isoformat() if isinstance(value, date) else value
            assert got == want, f"{instrument}.{key}: {step}"


@pytest.mark.parametrize(("name", "today", "profile", "expect"), CASES, ids=[case[0] for case in CASES])
def test_rule_case(kb: KnowledgeBase, name: str, today: date, profile: dict[str, Any], expect: dict[str, Any]) -> None:
    result = diagnose(parse_profile(profile, kb), kb, today).to_dict()
    for key in ("segment", "family", "stage", "size"):
        if key in expect:
            assert result[key] == expect[key], f"{key}: {result[key]}"
    if "pertinence" in expect:
        assert result["pertinence"]["level"] == expect["pertinence"]
    if "to_confirm" in expect:
        _contains_all(result["explanation"]["to_confirm"], expect["to_confirm"], "to_confirm")
    _check_instruments(result, expect.get("instruments", {}))
    _check_route(result, expect.get("route", {}))
    _check_steps(result, expect.get("steps", {}))
