"""The loaded knowledge base: every data file, indexed by id, plus dated parameter look-up."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from knowledge.models import (
    Agency,
    Call,
    Commune,
    Criterion,
    GlossaryTerm,
    Instrument,
    LessonPath,
    Office,
    Parameter,
    Rules,
    Sector,
)

__all__ = ["KnowledgeBase", "UnknownParameterError"]


class UnknownParameterError(KeyError):
    """A rule asked for a parameter the knowledge base does not define."""


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the rules need, validated and cross-checked by `knowledge.loader.load_knowledge_base`."""

    agencies: dict[str, Agency]
    sectors: dict[str, Sector]
    communes: dict[str, Commune]
    offices: dict[str, Office]
    instruments: dict[str, Instrument]
    calls: dict[str, list[Call]]
    parameters: dict[str, Parameter]
    rules: Rules
    glossary: dict[str, GlossaryTerm]
    lessons: LessonPath
    version: str
    memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Values derived from the data alone (office index, schedules of a day), computed once per copy."""

    def parameter(self, name: str, day: date) -> float:
        """The value of parameter `name` in force on `day` (the earliest value before the first date)."""
        try:
            values = self.parameters[name].values
        except KeyError:
            raise UnknownParameterError(name) from None
        current = values[0].value
        for dated in values:
            if dated.valid_from > day:
                break
            current = dated.value
        return current

    @cached_property
    def prerequisite_ids(self) -> frozenset[str]:
        """Instruments named as the prerequisite of some criterion (formalising at SII, …)."""
        return frozenset(
            criterion.prerequisite
            for instrument in self.instruments.values()
            for criterion in instrument.criteria
            if criterion.prerequisite
        )

    def sectors_served(self, instrument: str) -> frozenset[str]:
        """The sectors an instrument is limited to by its criteria (`sector` eq/in); empty = any sector."""
        return _sector_values(self.instruments[instrument].criteria)

    def offices_for(self, agency: str, commune: str) -> list[Office]:
        """Offices of `agency` that serve `commune`, physical ones first."""
        if "offices_by_agency_commune" not in self.memo:
            index: dict[tuple[str, str], list[Office]] = {}
            for office in self.offices.values():
                for served in office.serves:
                    index.setdefault((office.agency, served), []).append(office)
            for offices in index.values():
                offices.sort(key=lambda office: office.kind == "online")
            self.memo["offices_by_agency_commune"] = index
        found: list[Office] = self.memo["offices_by_agency_commune"].get((agency, commune), [])
        return found


def _sector_values(criteria: list[Criterion]) -> frozenset[str]:
    values: set[str] = set()
    for criterion in criteria:
        if criterion.fact == "sector":
            values |= {str(v) for v in ([criterion.eq] if criterion.eq is not None else criterion.in_ or [])}
        values |= _sector_values(criterion.any_of or []) | _sector_values(criterion.all_of or [])
    return frozenset(values)
