"""Facts a criterion can test: the profile's answers plus values derived from them on a given day."""

from __future__ import annotations

from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.profile import PROFILE_FIELDS, Profile

__all__ = ["DERIVED_FACTS", "FACTS", "base_facts", "company_size"]

DERIVED_FACTS = ("annual_sales_clp", "annual_sales_uf", "size", "province", "segment", "family", "stage")
FACTS = frozenset(PROFILE_FIELDS) | frozenset(DERIVED_FACTS)


def company_size(annual_sales_uf: float | None, operating: bool | None, kb: KnowledgeBase, day: date) -> str | None:
    """Size by annual sales in UF (Ley 20.416): none, micro, small, medium or large; None when unknown."""
    if operating is False or annual_sales_uf == 0:
        return "none"
    if annual_sales_uf is None:
        return None
    for size in ("micro", "small", "medium"):
        if annual_sales_uf <= kb.parameter(f"size_{size}_max_uf", day):
            return size
    return "large"


def base_facts(profile: Profile, kb: KnowledgeBase, day: date) -> dict[str, Any]:
    """The profile's answers plus annual sales (pesos and UF), size and province.

    Annual sales are twelve times the monthly sales the entrepreneur reports; a business that is not
    operating sells nothing. Segment, family and stage are added by `knowledge.classification`.
    """
    facts: dict[str, Any] = profile.model_dump()
    if profile.gender == "undisclosed":  # not saying is not knowing: criteria on gender stay to confirm
        facts["gender"] = None
    monthly = 0 if profile.operating is False else profile.monthly_sales_clp
    annual = None if monthly is None else monthly * 12
    annual_uf = None if annual is None else annual / kb.parameter("uf_clp", day)
    commune = kb.communes.get(profile.commune) if profile.commune else None
    facts.update(
        annual_sales_clp=annual,
        annual_sales_uf=annual_uf,
        size=company_size(annual_uf, profile.operating, kb, day),
        province=commune.province if commune else None,
    )
    return facts
