"""`kill -9` of `ruta chat --json` at random moments of seeded conversations (tests/chat_kills.py): how many
end as an uninterrupted run.

    .venv/bin/python bench/chat_kill_bench.py [--conversations 40] [--seed 1]

Each simulated person's conversation is killed once after a random line and once after the last (half the kills
at a random moment of the turn, half the moment the database is first written), restarted, and the person sends
again the first line they got no answer to.
Reported: kills, kills that came before the answer got out, conversations that end on the same route with the
same single diagnosis row, conversations whose every answer is the same as in the uninterrupted run, and those
where the only difference is replies shown once more (a kill between printing and recording them delivered).
Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge import load_knowledge_base  # noqa: E402
from nlu.embedded import EmbeddedNlu  # noqa: E402
from nlu.training_data import DATA_DIR  # noqa: E402
from tests.chat_kills import record, replay_with_kills  # noqa: E402


def run(conversations: int, seed: int) -> dict[str, object]:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="chat-kill-"))
    cache = folder / "nlu-cache"
    recorded = record(range(seed, seed + conversations), load_knowledge_base(), EmbeddedNlu((DATA_DIR,), cache), folder)
    rng = random.Random(seed)
    kills = unanswered = same_route = same_conversation = but_repeats = 0
    for number, clean in enumerate(recorded):
        home = folder / f"home-{number}"
        home.mkdir()
        replayed = replay_with_kills(clean, home, rng, cache)
        kills, unanswered = kills + replayed.kills, unanswered + replayed.unanswered
        same_route += replayed.same_route_and_diagnosis(clean)
        same_conversation += replayed.same_conversation(clean)
        but_repeats += replayed.same_conversation_but_repeats(clean)
    return {
        "conversations": conversations,
        "kills": kills,
        "kills_before_the_answer_got_out": unanswered,
        "same_route_and_single_diagnosis": same_route,
        "same_answers_throughout": same_conversation,
        "same_answers_but_replies_shown_again": but_repeats - same_conversation,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.conversations, args.seed), indent=2))


if __name__ == "__main__":
    main()
