"""How many examples a property test over a door runs: its default; 25,000 under the long profile
(HYPOTHESIS_PROFILE=long, registered in tests/conftest.py); or RUTA_FUZZ_EXAMPLES (bench/fuzz_bench.py)."""

from __future__ import annotations

import os

LONG_EXAMPLES = 25_000  # per door: engine messages, `ruta diagnose` profiles, Telegram and WhatsApp bodies


def fuzz_examples(default: int) -> int:
    if "RUTA_FUZZ_EXAMPLES" in os.environ:
        return int(os.environ["RUTA_FUZZ_EXAMPLES"])
    return LONG_EXAMPLES if os.environ.get("HYPOTHESIS_PROFILE") == "long" else default
