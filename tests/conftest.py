"""Shared fixtures: the built-in knowledge base and a complete example profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from knowledge import KnowledgeBase, load_knowledge_base
from nlu.parse import NluBackend

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


@pytest.fixture(scope="session")
def embedded_nlu(tmp_path_factory: pytest.TempPathFactory) -> NluBackend:
    from nlu.embedded import EmbeddedNlu
    from nlu.training_data import DATA_DIR

    return EmbeddedNlu((DATA_DIR,), tmp_path_factory.mktemp("nlu-cache"))


@pytest.fixture(scope="session")
def rasa_server() -> Iterator[str]:
    """A real Rasa server (installed, validated, trained and started by scripts/rasa.sh); its base URL."""
    from tests.rasa_service import start_rasa_server

    server = start_rasa_server(env={"RASA_STRICT": "1"})
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rasa_nlu(rasa_server: str, embedded_nlu: NluBackend) -> NluBackend:
    from nlu.rasa_backend import RasaNlu

    return RasaNlu(rasa_server, timeout=10.0, fallback=embedded_nlu)
