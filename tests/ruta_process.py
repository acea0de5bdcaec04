"""Run the installed `ruta` command as a separate process with its own home, as a user or cron would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

RUTA = Path(sys.executable).with_name("ruta")


@dataclass
class _SharedNlu:
    directory: Path | None = None
    trained: bool = False


_SHARED_NLU = _SharedNlu()


def share_nlu_cache(directory: Path) -> None:
    """Have every `ruta` started through `ruta_env` load the embedded NLU model of nlu/data from `directory`.

    tests/conftest.py does it once per test session (per xdist worker): the model is trained there once instead
    of in each new home (about 4 s a start). Benchmarks do not call it, so their `ruta` starts stay first starts;
    tests about the cache itself give their own RUTA_NLU_CACHE."""
    _SHARED_NLU.directory, _SHARED_NLU.trained = directory, False


def _shared_nlu_cache() -> dict[str, str]:
    """RUTA_NLU_CACHE for `ruta_env` once `share_nlu_cache` was called (the model trained there first), else {}."""
    directory = _SHARED_NLU.directory
    if directory is None:
        return {}
    if not _SHARED_NLU.trained:
        from nlu.embedded import EmbeddedNlu
        from nlu.training_data import DATA_DIR

        EmbeddedNlu((DATA_DIR,), directory)  # trains into the directory, or finds the model already there
        _SHARED_NLU.trained = True
    return {"RUTA_NLU_CACHE": str(directory)}


def ruta_env(home: Path, **values: str) -> dict[str, str]:
    """This environment without any RUTA_* setting of the developer's, plus RUTA_HOME=home, the shared NLU
    cache if any (`share_nlu_cache`) and `values`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUTA_")}
    return {**clean, "RUTA_HOME": str(home), **_shared_nlu_cache(), **values}


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


async def until_healthy(
    port: int, process: subprocess.Popen[Any] | None = None, timeout: float = 120.0, log: Callable[[], str] = str
) -> None:
    """Until `ruta serve` on `port` answers GET /healthz with 200. AssertionError, with what `log` returns, if
    `process` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"ruta serve exited with {process.returncode}:\n{log()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"ruta serve on port {port} not healthy after {timeout} s:\n{log()}")
