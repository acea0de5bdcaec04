"""What a draft of the knowledge base would change for the people the assistant talks to (the console's preview).

`compare` diagnoses one profile with the published and the draft knowledge base side by side; `change_summary`
does it over a fixed sample of profiles ("este cambio modifica la ruta de 37 de 1.000 perfiles de ejemplo")
and keeps a few examples. The sample is seeded, drawn from the knowledge base's own communes and sectors and
from realistic ranges, so two previews of the same change always speak of the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from knowledge import KnowledgeBase, Profile, diagnose
from knowledge.models import NEEDS

__all__ = ["Comparison", "Summary", "change_summary", "compare", "sample_profiles"]

SAMPLE_SEED = 20261203
EXAMPLES = 5


@dataclass(frozen=True)
class Comparison:
    """One profile's route with the published knowledge base and with the draft."""

    profile: Profile
    published: list[dict[str, Any]]
    draft: list[dict[str, Any]]

    @property
    def changed(self) -> bool:
        return self.published != self.draft


@dataclass(frozen=True)
class Summary:
    """How many of the sample's routes the draft changes, with a few examples."""

    total: int
    changed: int
    examples: list[Comparison] = field(default_factory=list)


def compare(profile: Profile, published: KnowledgeBase, draft: KnowledgeBase, today: date) -> Comparison:
    return Comparison(profile, _route(profile, published, today), _route(profile, draft, today))


def _route(profile: Profile, kb: KnowledgeBase, today: date) -> list[dict[str, Any]]:
    return [step.to_dict() for step in diagnose(profile, kb, today).route]


def change_summary(
    published: KnowledgeBase, draft: KnowledgeBase, today: date, profiles: list[Profile] | None = None
) -> Summary:
    """Compare every profile of the sample (default: 1,000 seeded profiles) under both knowledge bases."""
    sample = profiles if profiles is not None else sample_profiles(published)
    changed = [c for c in (compare(p, published, draft, today) for p in sample) if c.changed]
    return Summary(total=len(sample), changed=len(changed), examples=changed[:EXAMPLES])


def sample_profiles(kb: KnowledgeBase, size: int = 1000, seed: int = SAMPLE_SEED) -> list[Profile]:
    """A fixed, varied sample of entrepreneurs: every commune and sector, operating or not, formal or not."""
    pick = random.Random(seed)
    return [_profile(pick, kb) for _ in range(size)]


def _profile(pick: random.Random, kb: KnowledgeBase) -> Profile:
    operating = pick.random() < 0.8
    return Profile(
        commune=pick.choice(list(kb.communes)),
        sector=pick.choice(list(kb.sectors)),
        operating=operating,
        months_operating=pick.choice([2, 8, 18, 40, 90, 200]) if operating else 0,
        formal=pick.random() < 0.45,
        workers=pick.choice([1, 1, 2, 3, 5, 9, 25]),
        monthly_sales_clp=pick.choice([150_000, 400_000, 900_000, 2_500_000, 8_000_000, 40_000_000])
        if operating
        else 0,
        premises=pick.choice(["none", "home", "separate"]),
        surplus=pick.choice(["none", "sometimes", "regular"]),
        keeps_records=pick.random() < 0.5,
        main_need=pick.choice(NEEDS),
        gender=pick.choice(["female", "female", "male", "undisclosed"]),
        age=pick.randint(18, 75),
        rsh_percentile=pick.choice([40, 50, 60, 70, 80, 90, 100, None]),
    )
