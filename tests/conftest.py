"""Shared fixtures: the built-in knowledge base and a complete example profile."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge import KnowledgeBase, load_knowledge_base

COMPLETE_PROFILE: dict[str, Any] = {
    "commune": "vallenar",
    "sector": "comercio",
    "operating": True,
    "months_operating": 48,
    "formal": False,
    "workers": 2,
    "monthly_sales_clp": 900_000,
    "premises": "home",
    "surplus": "sometimes",
    "keeps_records": False,
    "main_need": "financing",
    "gender": "female",
    "age": 52,
    "rsh_percentile": 40,
}


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture
def profile_data() -> dict[str, Any]:
    return dict(COMPLETE_PROFILE)
