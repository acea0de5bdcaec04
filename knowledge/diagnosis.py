"""Profile -> Diagnosis: size, segment, family, stage, pertinence, eligibility of every instrument, route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.classification import Classification, classify_all
from knowledge.eligibility import InstrumentResult, assess_all
from knowledge.facts import base_facts
from knowledge.pertinence import Pertinence, pertinence
from knowledge.profile import Profile
from knowledge.route import RouteStep, build_route

__all__ = ["Diagnosis", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """Everything the assistant concludes about one profile on one day."""

    profile: Profile
    today: date
    facts: dict[str, Any]
    segment: Classification
    stage: Classification
    pertinence: Pertinence
    instruments: list[InstrumentResult]
    route: list[RouteStep]
    kb_version: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the `ruta diagnose` contract (plus explanatory fields)."""
        return {
            "segment": self.segment.value,
            "family": self.facts["family"],
            "stage": self.stage.value,
            "size": self.facts["size"],
            "annual_sales_uf": _rounded(self.facts["annual_sales_uf"]),
            "pertinence": self.pertinence.to_dict(),
            "explanation": {
                "segment": self.segment.explanation,
                "segment_reasons": self.segment.reasons,
                "stage": self.stage.explanation,
                "stage_reasons": self.stage.reasons,
                "to_confirm": self.segment.to_confirm + self.stage.to_confirm,
            },
            "instruments": [result.to_dict() for result in self.instruments],
            "route": [step.to_dict() for step in self.route],
            "today": self.today.isoformat(),
            "kb_version": self.kb_version,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def diagnose(profile: Profile, kb: KnowledgeBase, today: date) -> Diagnosis:
    """Diagnose `profile` against the knowledge base as of `today` (dates, UF value, open calls)."""
    facts = base_facts(profile, kb, today)
    classes = classify_all(facts, kb, today)
    results = assess_all(facts, kb, today)
    return Diagnosis(
        profile=profile,
        today=today,
        facts=facts,
        segment=classes["segment"],
        stage=classes["stage"],
        pertinence=pertinence(profile.commune, profile.sector, kb),
        instruments=results,
        route=build_route(results, profile.commune, kb, today, facts),
        kb_version=kb.version,
    )
