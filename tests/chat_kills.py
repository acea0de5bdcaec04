"""`kill -9` of `ruta chat --json` at random moments of seeded conversations, and what each person ends with.

The conversations are simulated people (tests/simulated) recorded once through an engine in this process: their
lines, the replies an uninterrupted run gives and the diagnosis it stores. Each is then replayed through the
real command, killed with SIGKILL after a random line is written and again after the last line: half the kills
at a random moment of the turn (0 to 1.2 times the median round trip of the lines before it), half the moment
the database file is first written after the line (right after a commit, where a turn written in two
transactions, or written but not yet shown, loses its end); the person restarts the command and sends again
the first line they got no answer to. Used by tests/test_chat_kill.py (a few conversations) and
bench/chat_kill_bench.py (a few dozen).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from knowledge import KnowledgeBase
from nlu.parse import NluBackend
from tests.ruta_process import RUTA, ruta_env
from tests.simulated.driver import EngineChat, converse
from tests.simulated.person import Person
from tests.test_conversations import make_engine

__all__ = ["Recorded", "Replayed", "record", "replay_with_kills"]

TODAY = date(2026, 3, 10)
USER = "persona"
TURN_SECONDS = 0.004  # a turn's round trip before one is measured


@dataclass(frozen=True)
class Recorded:
    """One uninterrupted conversation: the lines sent, the replies to each, the diagnosis stored."""

    lines: list[str]
    replies: list[list[dict[str, Any]]]
    results: dict[str, Any]


@dataclass(frozen=True)
class Replayed:
    """What the person saw for each line (the answer to their last try of it) and what the database kept."""

    seen: list[list[dict[str, Any]]]
    results: list[dict[str, Any]]
    kills: int
    unanswered: int  # kills that came before the answer to the line got out

    def same_route_and_diagnosis(self, clean: Recorded) -> bool:
        return self.results == [clean.results] and _route(self.seen) == _route(clean.replies)

    def same_conversation(self, clean: Recorded) -> bool:
        return self.seen == clean.replies

    def same_conversation_but_repeats(self, clean: Recorded) -> bool:
        """The same answers, except that one may come after the replies to the line before it once more (delivery
        is at least once: a kill between showing replies and recording them delivered shows them again)."""
        before = [[], *clean.replies]
        return all(
            seen in (replies, _collapsed(earlier + replies))
            for seen, replies, earlier in zip(self.seen, clean.replies, before, strict=False)
        ) and len(self.seen) == len(clean.replies)


def record(seeds: range, kb: KnowledgeBase, nlu: NluBackend, folder: Path) -> list[Recorded]:
    """The seeded people's conversations through an engine in this process (a pressed button is its title)."""
    recorded = []
    for seed in seeds:
        engine = make_engine(nlu, folder / f"clean-{seed}.sqlite3")
        conversation = asyncio.run(converse(Person(seed, kb), EngineChat(engine, USER, TODAY, "console")))
        lines = [text for (_, text), _ in conversation.turns]
        replies = [[{"text": m.text, "buttons": m.buttons} for m in messages] for _, messages in conversation.turns]
        [stored] = engine.store.diagnoses()
        recorded.append(Recorded(lines, replies, stored.results))
        engine.store.close()
    return recorded


def replay_with_kills(clean: Recorded, home: Path, rng: random.Random, nlu_cache: Path) -> Replayed:
    """Replay through `ruta chat --json`, killed once at a random line and once at the last."""
    kill_at = sorted({rng.randrange(len(clean.lines)), len(clean.lines) - 1})
    seen: list[list[dict[str, Any]] | None] = [None] * len(clean.lines)
    kills = unanswered = 0
    while (nxt := next((i for i, s in enumerate(seen) if s is None), None)) is not None:
        victim = kill_at.pop(0) if kill_at and kill_at[0] >= nxt else None
        with _Chat(home, nlu_cache) as chat:
            for index in range(nxt, len(clean.lines) if victim is None else victim):
                seen[index] = chat.send(clean.lines[index])
            if victim is not None:
                answer = chat.send_and_kill(clean.lines[victim], rng.random())
                seen[victim] = answer
                kills, unanswered = kills + 1, unanswered + (answer is None)
    return Replayed([_shown(turn) for turn in seen if turn is not None], _results(home), kills, unanswered)


class _Chat:
    """One run of `ruta chat --json` for the person (its replies read a line at a time)."""

    def __init__(self, home: Path, nlu_cache: Path) -> None:
        self.wal = home / "ruta.sqlite3-wal"
        env = ruta_env(home, RUTA_NLU_CACHE=str(nlu_cache))
        args = [str(RUTA), "chat", "--json", "--user", USER, "--today", TODAY.isoformat()]
        self.process = subprocess.Popen(
            args, env=env, cwd=home, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.round_trips: list[float] = []

    def __enter__(self) -> _Chat:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)

    def _written(self) -> tuple[int, int] | None:
        """The database's write-ahead log, as it stands (a commit changes it)."""
        return _stat(self.wal)

    def send(self, line: str) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        started = time.perf_counter()
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = list(json.loads(self.process.stdout.readline()))
        self.round_trips.append(time.perf_counter() - started)
        return answer

    def send_and_kill(self, line: str, moment: float) -> list[dict[str, Any]] | None:
        """Write the line and SIGKILL the process: for `moment` under 0.5 at that fraction of 2.4 round trips,
        else as soon as the database file changes. Its answer if one got out whole."""
        assert self.process.stdin is not None and self.process.stdout is not None
        turn = statistics.median(self.round_trips) if self.round_trips else TURN_SECONDS
        written = self._written()
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        if moment < 0.5:
            _sleep_precisely(moment * 2.4 * turn)
        else:
            until = time.perf_counter() + 1.0
            while self._written() == written and time.perf_counter() < until:
                pass
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        rest = self.process.stdout.read()
        return list(json.loads(rest)) if rest.endswith("\n") else None


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_size, status.st_mtime_ns


def _sleep_precisely(seconds: float) -> None:
    """Wait `seconds` by the clock (time.sleep may oversleep by a millisecond, the length of a whole turn)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def _collapsed(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without a reply equal to the one just before it (as the engine sends leftovers and new replies)."""
    return [reply for index, reply in enumerate(replies) if index == 0 or replies[index - 1] != reply]


def _shown(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"text": reply["text"], "buttons": reply["buttons"]} for reply in replies]


def _route(turns: list[list[dict[str, Any]]]) -> str | None:
    """The text of the last route shown (the reply after "¡Listo! Con eso tengo lo necesario")."""
    replies = [reply["text"] for turn in turns for reply in turn]
    routes = [after for before, after in itertools.pairwise(replies) if before.startswith("¡Listo!")]
    return routes[-1] if routes else None


def _results(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "ruta.sqlite3") as connection:
        return [json.loads(results) for (results,) in connection.execute("SELECT results FROM diagnoses")]
