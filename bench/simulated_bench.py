"""Simulated entrepreneurs (tests/simulated) through the real engine: how many messages to a route, and how
many answers are recovered exactly.

    .venv/bin/python bench/simulated_bench.py [--people 5000] [--noise 0.35]

- Turns to route: messages the person sent until the route arrived (greeting and consent included),
  median, p95 and max; conversations that got no route within 25 messages.
- Slots recovered: the share of the 14 profile slots whose final value equals the person's truth (a button
  stands for its range, so a pressed "30 a 59" counts when the age is 45; "no sé" counts when the slot is
  left unknown), over every slot and over the slots answered clearly; people with any problem found.
Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402
from knowledge import load_knowledge_base  # noqa: E402
from knowledge.profile import PROFILE_FIELDS  # noqa: E402
from nlu.embedded import EmbeddedNlu  # noqa: E402
from nlu.training_data import DATA_DIR  # noqa: E402
from tests.simulated.driver import EngineChat, converse, problems  # noqa: E402
from tests.simulated.person import Person  # noqa: E402
from tests.test_conversations import make_engine  # noqa: E402


async def run(people: int, noise: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="ruta-simulated-"))
    engine = make_engine(EmbeddedNlu((DATA_DIR,), work), work / "ruta.sqlite3")
    kb = load_knowledge_base()
    turns: list[float] = []
    exact = clear_kept = clear_total = unreached = troubled = 0
    kinds: Counter[str] = Counter()
    started = time.perf_counter()
    for seed in range(people):
        person = Person(seed, kb, noise=noise)
        chat = EngineChat(engine, f"bench-{seed}", date(2026, 3, 10))
        conversation = await converse(person, chat)
        slots = chat.slots()
        found = problems(conversation, slots)
        troubled += bool(found)
        kinds.update(problem.split(":")[0] for problem in found)
        if conversation.reached_route:
            turns.append(len(conversation.turns))
        else:
            unreached += 1
        for slot in PROFILE_FIELDS:
            expect = person.expected.get(slot)
            exact += expect.holds(slots.get(slot)) if expect else slots.get(slot) == person.truth[slot]
        clear_total += len(person.expected)
        clear_kept += sum(expect.holds(slots.get(slot)) for slot, expect in person.expected.items())
    seconds = time.perf_counter() - started
    return {
        "people": people,
        "noise": noise,
        "turns_to_route": {
            "median": statistics.median(turns),
            "p95": percentile(turns, 0.95),
            "max": max(turns),
        },
        "no_route_within_25": unreached,
        "slots_recovered_exactly": round(exact / (people * len(PROFILE_FIELDS)), 4),
        "clear_answers_kept": round(clear_kept / clear_total, 4),
        "people_with_a_problem": troubled,
        "problems": dict(kinds.most_common()),
        "ms_per_conversation": round(seconds * 1000 / people, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--noise", type=float, default=0.35, help="chance of a noisy answer while budget lasts")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.people, args.noise)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
