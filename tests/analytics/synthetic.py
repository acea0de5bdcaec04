"""Seeded synthetic diagnoses, stored as the engine stores them, to drive exports and reports."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from bot.analytics.records import read_rows
from bot.analytics.rules import load_analytics_rules
from bot.engine import diagnosis_results
from bot.storage import Store
from knowledge import KnowledgeBase, diagnose, parse_profile
from knowledge.models import NEEDS


def synthetic_profile(rng: random.Random, kb: KnowledgeBase) -> dict[str, object]:
    operating = rng.random() < 0.8
    return {
        "commune": rng.choice(["copiapo", "copiapo", "copiapo", "vallenar", "vallenar", *kb.communes]),
        "sector": rng.choice(["comercio", "comercio", "gastronomia", "servicios", *kb.sectors]),
        "operating": operating,
        "months_operating": rng.randint(1, 240) if operating else 0,
        "formal": rng.random() < 0.4,
        "workers": rng.choice([1, 1, 1, 2, 3, 5, 12]),
        "monthly_sales_clp": rng.choice([200_000, 600_000, 1_500_000, 4_000_000, 30_000_000]) if operating else 0,
        "premises": rng.choice(["none", "home", "home", "separate"]),
        "surplus": rng.choice(["none", "sometimes", "regular"]) if operating else "none",
        "keeps_records": rng.random() < 0.5,
        "main_need": rng.choice(sorted(NEEDS)),
        "gender": rng.choice(["female", "female", "male", "male", "undisclosed"]),
        "age": rng.choice([None, *range(18, 80)]),
        "rsh_percentile": rng.choice([None, 40, 40, 50, 60, 70, 80, 90, 100]),
    }


def add_synthetic_diagnoses(
    store: Store, kb: KnowledgeBase, count: int, seed: int = 1, start: date = date(2026, 1, 5)
) -> None:
    """`count` diagnoses by as many people, spread over the 40 weeks from `start`."""
    rng = random.Random(seed)
    for number in range(count):
        made = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(
            minutes=rng.randint(0, 40 * 7 * 1440)
        )
        profile = parse_profile(synthetic_profile(rng, kb), kb)
        result = diagnose(profile, kb, made.date())
        store.add_diagnosis(
            f"synthetic-{seed}-{number}", profile.model_dump(), diagnosis_results(result), kb.version, made
        )


def synthetic_rows(kb: KnowledgeBase, count: int, seed: int = 1) -> list[dict[str, object]]:
    """The anonymised rows of `count` synthetic diagnoses (stored in memory first, as the engine would)."""
    store = Store("sqlite:///:memory:")
    add_synthetic_diagnoses(store, kb, count, seed)
    return read_rows(store, kb, load_analytics_rules(), None)
