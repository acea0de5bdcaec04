"""Run the installed `ruta` command as a separate process with its own home, as a user or cron would."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUTA = Path(sys.executable).with_name("ruta")


@functools.cache
def nlu_cache() -> Path:
    """A cache holding the embedded NLU model of nlu/data, trained once per test process (per xdist worker).

    `ruta` started by a test loads the model from it instead of training its own in the new home (about 4 s
    each); tests that are about the cache itself give their own RUTA_NLU_CACHE."""
    from nlu.embedded import EmbeddedNlu
    from nlu.training_data import DATA_DIR

    directory = Path(tempfile.mkdtemp(prefix="ruta-tests-nlu-"))
    atexit.register(shutil.rmtree, directory, True)
    EmbeddedNlu((DATA_DIR,), directory)
    return directory


def ruta_env(home: Path, **values: str) -> dict[str, str]:
    """This environment without any RUTA_* setting of the developer's, plus RUTA_HOME=home, the tests' trained
    NLU model (RUTA_NLU_CACHE=nlu_cache()) and `values`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUTA_")}
    return {**clean, "RUTA_HOME": str(home), "RUTA_NLU_CACHE": str(nlu_cache()), **values}


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
