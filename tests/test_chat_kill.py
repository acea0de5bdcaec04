"""Issue 17 with real processes: `ruta chat --json` killed with SIGKILL at random moments (and right around the
last answer) ends, after restarts, on the same route and the same single diagnosis as an uninterrupted run.

A few conversations here; `bench/chat_kill_bench.py` runs a few dozen and gives the README's figure."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from knowledge import KnowledgeBase
from nlu.embedded import EmbeddedNlu
from nlu.training_data import DATA_DIR
from tests.chat_kills import record, replay_with_kills


@pytest.fixture(scope="module")
def nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.mark.parametrize("seed", range(4))
def test_killed_conversations_end_as_an_uninterrupted_run(
    seed: int, kb: KnowledgeBase, nlu_cache: Path, tmp_path: Path
) -> None:
    [clean] = record(range(seed, seed + 1), kb, EmbeddedNlu((DATA_DIR,), nlu_cache), tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    replayed = replay_with_kills(clean, home, random.Random(seed), nlu_cache)
    assert replayed.kills >= 1
    assert replayed.same_route_and_diagnosis(clean), (replayed.results, clean.results)
    assert replayed.same_conversation_but_repeats(clean)
