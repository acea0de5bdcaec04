"""Properties of the diagnosis over any valid profile and any day (hypothesis)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import KnowledgeBase, diagnose, load_knowledge_base, parse_profile
from tests.strategies import profiles

KB: KnowledgeBase = load_knowledge_base()
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
USABLE = {"eligible", "after_prerequisite", "to_confirm"}


def _diagnosis(profile: dict[str, Any], today: date) -> dict[str, Any]:
    return diagnose(parse_profile(profile, KB), KB, today).to_dict()


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_no_past_date_is_ever_shown(profile: dict[str, Any], today: date) -> None:
    for step in _diagnosis(profile, today)["route"]:
        for key in ("opens", "closes"):
            assert step[key] is None or date.fromisoformat(step[key]) >= today, step
        if step["days_left"] is not None:
            assert step["days_left"] >= 0


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_route_is_numbered_and_only_holds_usable_instruments(profile: dict[str, Any], today: date) -> None:
    result = _diagnosis(profile, today)
    verdicts = {item["id"]: item for item in result["instruments"]}
    route = result["route"]
    assert [step["step"] for step in route] == list(range(1, len(route) + 1))
    assert len({step["instrument"] for step in route}) == len(route)
    for step in route:
        assert verdicts[step["instrument"]]["status"] in USABLE


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_prerequisites_come_before_the_steps_that_need_them(profile: dict[str, Any], today: date) -> None:
    result = _diagnosis(profile, today)
    verdicts = {item["id"]: item for item in result["instruments"]}
    position = {step["instrument"]: step["step"] for step in result["route"]}
    for instrument, step in position.items():
        for prerequisite in verdicts[instrument]["prerequisites"]:
            assert prerequisite in position and position[prerequisite] < step


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_unknown_answers_never_make_an_instrument_eligible(profile: dict[str, Any], today: date) -> None:
    for item in _diagnosis(profile, today)["instruments"]:
        assert item["eligible"] == (item["status"] == "eligible")
        if item["eligible"]:
            assert item["missing"] == [] and item["to_confirm"] == []
        assert set(item["to_confirm"]) <= set(item["missing"])


@settings(max_examples=200, deadline=None)
@given(profiles, days)
def test_classification_values_are_in_the_contract(profile: dict[str, Any], today: date) -> None:
    result = _diagnosis(profile, today)
    assert result["segment"] in {"subsistence", "simple_accumulation", "extended_accumulation"}
    assert result["family"] == ("subsistence" if result["segment"] == "subsistence" else "dynamic")
    assert result["stage"] in {"conception", "initiation", "growth", "consolidation"}
    assert result["size"] in {None, "none", "micro", "small", "medium", "large"}
    if profile.get("operating") is False:
        assert result["stage"] == "conception" and result["size"] == "none"


CONFIRMED = {"eligible", "after_prerequisite"}


def _applied_for_before_formalising(instrument: str) -> bool:
    return any(c.fact == "formal" and c.eq is False for c in KB.instruments[instrument].criteria)


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_no_step_to_confirm_precedes_an_eligible_one(profile: dict[str, Any], today: date) -> None:
    """Steps to confirm come last, except one that must be applied for before a formalisation step."""
    result = _diagnosis(profile, today)
    status = {item["id"]: item["status"] for item in result["instruments"]}
    ids = [step["instrument"] for step in result["route"]]
    formalising = [i for i, step in enumerate(ids) if step in KB.prerequisite_ids and status[step] in CONFIRMED]
    for i, earlier in enumerate(ids):
        if status[earlier] != "to_confirm":
            continue
        for later in ids[i + 1 :]:
            if status[later] in CONFIRMED:
                assert _applied_for_before_formalising(earlier), (earlier, later, ids)
                assert any(position > i for position in formalising), (earlier, later, ids)


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_a_business_selling_informally_is_shown_how_to_formalise(profile: dict[str, Any], today: date) -> None:
    result = _diagnosis(profile, today)
    ids = [step["instrument"] for step in result["route"]]
    if profile.get("operating") is True and profile.get("formal") is False:
        assert "sii_inicio_actividades" in ids, ids
    if profile.get("operating") is True and profile.get("formal") is None:
        assert "sii_inicio_actividades" in ids, ids  # to confirm: the route says what is to be confirmed
    if profile.get("formal") is True:
        assert "sii_inicio_actividades" not in ids, ids


@settings(max_examples=300, deadline=None)
@given(profiles, days)
def test_the_route_keeps_its_cap(profile: dict[str, Any], today: date) -> None:
    """Besides the entry door, the prerequisites and the required steps, at most route_max_instruments."""
    result = _diagnosis(profile, today)
    extra = {"sii_inicio_actividades"} | KB.prerequisite_ids
    ranked = [
        step
        for step in result["route"]
        if not KB.instruments[step["instrument"]].entry_door and step["instrument"] not in extra
    ]
    assert len(ranked) <= KB.rules.route_max_instruments
