"""Pertinence of a business for its commune and sector, from the opportunity map (seed item a)."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.base import KnowledgeBase

__all__ = ["Pertinence", "pertinence"]


@dataclass(frozen=True)
class Pertinence:
    """How promising the sector is in the commune, the basis for it, and the commune's map entries."""

    level: str
    basis: str | None
    source: str | None
    opportunities: list[str]
    human_capital_needs: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "basis": self.basis,
            "source": self.source,
            "opportunities": self.opportunities,
            "human_capital_needs": self.human_capital_needs,
        }


def pertinence(commune_id: str | None, sector_id: str | None, kb: KnowledgeBase) -> Pertinence:
    """The map's potential for the sector in the commune; a sector not on the map gets the rules' default."""
    commune = kb.communes.get(commune_id) if commune_id else None
    sector = kb.sectors.get(sector_id) if sector_id else None
    if commune is None or sector is None:
        return Pertinence("unknown", None, None, commune.opportunities if commune else [], [])
    for row in commune.sectors:
        if row.sector == sector.id:
            return Pertinence(row.potential, row.basis, row.source, commune.opportunities, commune.human_capital_needs)
    rules = kb.rules
    level = rules.pertinence_default_priority if sector.regional_priority else rules.pertinence_default_other
    return Pertinence(level, None, None, commune.opportunities, commune.human_capital_needs)
