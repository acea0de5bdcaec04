"""The long profile of issue 16: the property tests over every door, with many more examples than the default run.

    .venv/bin/python bench/fuzz_bench.py [--per-door 25000]

Runs, through pytest with RUTA_FUZZ_EXAMPLES, the hypothesis properties for the engine (texts and button
payloads in every state of the dialogue; each example sends one to three messages), `ruta diagnose` (one to
three profile lines per example), `POST /telegram` and `POST /whatsapp` (one body each). Reports per door the
examples run, the inputs they held (messages, lines, bodies: counted from the examples' average) and the time,
and whether every property held. Not a test: the figures go to the README.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.test_engine_bad_input import PREFIXES  # noqa: E402

# The engine's examples also replay a prefix of a real conversation (to reach each state) before the fuzzed messages.
ENGINE_MESSAGES = 2.0 + sum(map(len, PREFIXES)) / len(PREFIXES)
DOORS = {  # door -> (property test, inputs per example on average: list sizes 1..3 draw 2 on average)
    "engine": ("tests/test_engine_bad_input.py::test_any_payload_or_text_in_any_state_gets_a_reply", ENGINE_MESSAGES),
    "ruta diagnose": ("tests/test_profile_input.py::test_any_profile_line_gets_a_diagnosis_or_exit_2", 2.0),
    "POST /telegram": (
        "tests/channels/test_bad_bodies.py::test_any_telegram_body_is_200_or_400_and_a_refused_one_stores_nothing",
        1.0,
    ),
    "POST /whatsapp": (
        "tests/channels/test_bad_bodies.py::test_any_whatsapp_body_is_200_or_400_and_a_refused_one_stores_nothing",
        1.0,
    ),
}


def run(test: str, examples: int) -> tuple[bool, float]:
    env = {**os.environ, "RUTA_FUZZ_EXAMPLES": str(examples)}
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], file=sys.stderr)
    return done.returncode == 0, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-door", type=int, default=25_000, help="examples per door (default 25,000)")
    args = parser.parse_args()
    total_inputs = 0.0
    for door, (test, per_example) in DOORS.items():
        held, seconds = run(test, args.per_door)
        inputs = args.per_door * per_example
        total_inputs += inputs
        print(f"{door:15} {args.per_door:>7,} examples ≈ {inputs:>8,.0f} inputs  {seconds:7.1f} s  "
              f"{'every property held' if held else 'FAILED'}")  # fmt: skip
    print(f"{'all doors':15} {args.per_door * len(DOORS):>7,} examples ≈ {total_inputs:>8,.0f} inputs")


if __name__ == "__main__":
    main()
