"""Shared fixtures: the built-in knowledge base and a complete example profile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from knowledge import KnowledgeBase, load_knowledge_base
from nlu.parse import NluBackend

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

# Hypothesis: the default profile keeps each test's own example count and draws the same examples on every run
# (a fixed seed: the test command passes or fails for the code, not for the draw); HYPOTHESIS_PROFILE=explore
# draws new ones each run, to look for new failures; HYPOTHESIS_PROFILE=long is the fuzzing run of issue 12
# (tests/fuzz.py: 25,000 examples per door), derandomized as well.
settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.register_profile("long", derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

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


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Under pytest-xdist (`--dist loadgroup`) every test that needs the real Rasa server runs on one worker.

    The group is the largest unit of work, so xdist hands it out first: one worker installs, trains and serves
    Rasa (about 5 to 10 minutes) while the other runs the rest of the suite.
    """
    grouping = bool(getattr(config.option, "loadgroup", False))  # set on the workers of `--dist loadgroup`
    if grouping:
        for item in items:
            if item.get_closest_marker("rasa") is not None:
                item.add_marker(pytest.mark.xdist_group("rasa"))
    yield  # the other implementations, xdist's among them: it suffixes the group to the node id
    if grouping:
        _keep_xdist_groups(items)


def _keep_xdist_groups(items: list[pytest.Item]) -> None:
    """Put the `@group` suffix on node ids where xdist's own assignment did not take (pytest-xdist issue 1386).

    xdist 3.8 groups by writing `item._nodeid`, which pytest 9.2 no longer reads (it keeps the id in `item._id`),
    so without this every grouped test would be scheduled on its own. Nothing is done once xdist's suffix is there.
    """
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            from _pytest.nodeid import NodeId  # pytest >= 9.2, where xdist's suffix is lost

            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture
def profile_data() -> dict[str, Any]:
    return dict(COMPLETE_PROFILE)


@pytest.fixture(scope="session", autouse=True)
def shared_nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the embedded NLU model is trained once for the session, for `embedded_nlu` and the `ruta` processes
    the tests start (tests/ruta_process.py)."""
    from tests.ruta_process import share_nlu_cache

    directory = tmp_path_factory.mktemp("nlu-cache")
    share_nlu_cache(directory)
    return directory


@pytest.fixture(scope="session")
def embedded_nlu(shared_nlu_cache: Path) -> NluBackend:
    from nlu.embedded import EmbeddedNlu
    from nlu.training_data import DATA_DIR

    return EmbeddedNlu((DATA_DIR,), shared_nlu_cache)


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server of this test process (tests/postgres.py); the tests on it are skipped, and
    say why, when PostgreSQL is not installed (`make unit` installs it)."""
    from tests.postgres import postgres_bin, start_postgres

    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make unit installs Debian's postgresql package)")
    server = start_postgres(bin_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file, then a database of its own on the throw-away PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ruta.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url
