"""Run the installed `ruta` command as a separate process with its own home, as a user or cron would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUTA = Path(sys.executable).with_name("ruta")


def ruta_env(home: Path, **values: str) -> dict[str, str]:
    """This environment without any RUTA_* setting of the developer's, plus RUTA_HOME=home and `values`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUTA_")}
    return {**clean, "RUTA_HOME": str(home), **values}


def run_ruta(home: Path, *args: str, input_text: str = "", **values: str) -> subprocess.CompletedProcess[str]:
    """`ruta ARGS` in `home` (also its working directory), with the settings `values`; output captured."""
    return subprocess.run(
        [str(RUTA), *args],
        env=ruta_env(home, **values),
        cwd=home,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=300,
    )
