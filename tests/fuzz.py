"""How many examples a property test over a door runs: its default, or RUTA_FUZZ_EXAMPLES (the long profile)."""

from __future__ import annotations

import os


def fuzz_examples(default: int) -> int:
    return int(os.environ.get("RUTA_FUZZ_EXAMPLES", default))
