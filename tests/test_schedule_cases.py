"""Schedule cases from tests/cases/schedule.yml: windows and calls against a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from knowledge.models import Call, Instrument
from knowledge.schedule import schedule

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "schedule.yml").read_text(encoding="utf-8"))


def _instrument(case: dict[str, Any]) -> Instrument:
    availability = case.get("availability", "calls")
    return Instrument.model_validate(
        {
            "id": "test_instrument",
            "agency": "sercotec",
            "name": "Instrumento de prueba",
            "gives": "Prueba.",
            "areas": ["financiamiento"],
            "segments": ["subsistence"],
            "stages": ["growth"],
            "how_to_apply": "En línea.",
            "action": "Postula.",
            "availability": availability,
            "usual_window": case.get("window"),
            "sources": ["test"],
            "verified": date(2026, 1, 1),
        }
    )


def _calls(case: dict[str, Any]) -> list[Call]:
    calls = [
        Call.model_validate({"instrument": "test_instrument", "scope": "nacional", "source": "test", **raw})
        for raw in case.get("calls", [])
    ]
    return sorted(calls, key=lambda call: call.closes)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_schedule_case(case: dict[str, Any]) -> None:
    result = schedule(_instrument(case), _calls(case), case["today"])
    for key, expected in case["expect"].items():
        assert getattr(result, key) == expected, key
