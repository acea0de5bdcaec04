"""Start a real Rasa 3.6 NLU server (``scripts/rasa.sh``) for the tests that need one.

Rasa lives in its own virtual environment (``.venv-rasa``, Python 3.10), so the tests talk to it over HTTP
like the app does. This module uses only the standard library, so it runs in the main ``.venv`` (Python 3.11).

Typical use, as a session-scoped pytest fixture::

    @pytest.fixture(scope="session")
    def rasa_server() -> Iterator[RasaServer]:
        with start_rasa_server() as server:
            yield server
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rasa.sh"
LOCK = ROOT / ".rasa" / "steps.lock"
"""Held while setup, validate and train run, so that two test processes (two pytest-xdist workers, or two
sessions in one working tree) never install into `.venv-rasa` at once; the second finds the work done."""

DEFAULT_START_TIMEOUT = 300.0
"""Seconds to wait for the server to answer ``/status`` with a loaded model (it takes ~35 s here)."""
DEFAULT_STEP_TIMEOUT = 1800.0
"""Seconds allowed to each of ``setup`` (a first install downloads ~2.7 GB), ``validate`` and ``train``."""


class RasaServiceError(RuntimeError):
    """The Rasa service could not be set up, trained or started."""


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of the text file at ``path`` (empty if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


class RasaServer:
    """A running ``rasa run --enable-api`` process on localhost, in its own process group."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        """Wrap an already started server process answering at ``url``, logging to ``log_path``."""
        self.process = process
        self.url = url
        self.log_path = log_path

    def parse(self, text: str, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``text`` to ``POST /model/parse`` and return the decoded answer."""
        request = urllib.request.Request(
            f"{self.url}/model/parse",
            data=json.dumps({"text": text}).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read().decode("utf-8"))
            return answer

    def is_running(self) -> bool:
        """Tell whether the server process is still alive."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log."""
        return _tail(self.log_path, lines)

    def kill(self, timeout: float = 20.0) -> None:
        """SIGKILL the server's whole process group, as a crash or the OOM killer would, and reap it."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.process.wait(timeout=timeout)

    def __enter__(self) -> RasaServer:
        """Return the server itself; it is stopped when the ``with`` block ends."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()


def _run_step(step: str, env: Mapping[str, str], log: IO[bytes], log_path: Path, timeout: float) -> None:
    """Run ``scripts/rasa.sh STEP`` to completion, appending its output to the log; raise if it fails."""
    log.write(f"\n=== scripts/rasa.sh {step} ===\n".encode())
    log.flush()
    try:
        result = subprocess.run(
            ["bash", str(SCRIPT), step],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RasaServiceError(
            f"scripts/rasa.sh {step} timed out after {timeout:.0f} s; log {log_path}:\n{_tail(log_path)}"
        ) from error
    if result.returncode != 0:
        raise RasaServiceError(
            f"scripts/rasa.sh {step} failed with exit code {result.returncode}; log {log_path}:\n{_tail(log_path)}"
        )


@contextlib.contextmanager
def _steps_lock() -> Iterator[None]:
    """Hold the exclusive lock on `LOCK` (waiting for another process to release it)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_ready(server: RasaServer, timeout: float, poll_interval: float) -> None:
    """Poll ``GET /status`` until it names a loaded model; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.is_running():
            raise RasaServiceError(
                f"the Rasa server exited with code {server.process.returncode} before answering; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        try:
            status = _get_json(f"{server.url}/status")
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            status = None
        if isinstance(status, dict) and status.get("model_file"):
            return
        if time.monotonic() >= deadline:
            raise RasaServiceError(
                f"the Rasa server did not answer /status within {timeout:.0f} s; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(poll_interval)


def start_rasa_server(
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    step_timeout: float = DEFAULT_STEP_TIMEOUT,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    poll_interval: float = 1.0,
    prepare: bool = True,
) -> RasaServer:
    """Set up, validate and train the Rasa NLU model, then start a server on a free localhost port.

    Runs ``scripts/rasa.sh setup``, ``validate`` and ``train`` (each quick when already done), then
    ``scripts/rasa.sh run PORT`` as a subprocess in its own process group, with its output in a log file under
    ``log_dir`` (a new temporary directory by default), and waits until ``GET /status`` names a loaded model.

    Args:
        timeout: seconds to wait for the started server to become ready.
        step_timeout: seconds allowed to each of setup, validate and train.
        port: the port to listen on (default: a free one).
        env: extra environment variables for ``scripts/rasa.sh`` (e.g. ``RASA_NLU_DATA`` to use other data).
        log_dir: where to write ``rasa.log``.
        poll_interval: seconds between two readiness checks.
        prepare: run setup, validate and train first; False only starts the server (a restart of one this process
            already prepared, as after ``kill()``: the model is there, and validating again costs 10 to 20 s).

    Returns:
        The running server; call ``stop()`` (or use it as a context manager) to end it.

    Raises:
        RasaServiceError: a step failed, or the server died or did not become ready in time; the message
            carries the tail of the log.
    """
    directory = log_dir if log_dir is not None else Path(tempfile.mkdtemp(prefix="rasa-service-"))
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "rasa.log"
    full_env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", **(env or {})}
    chosen_port = port if port is not None else free_port()
    with log_path.open("ab") as log:
        if prepare:
            with _steps_lock():
                for step in ("setup", "validate", "train"):
                    _run_step(step, full_env, log, log_path, step_timeout)
        log.write(f"\n=== scripts/rasa.sh run {chosen_port} ===\n".encode())
        log.flush()
        process = subprocess.Popen(
            ["bash", str(SCRIPT), "run", str(chosen_port)],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RasaServer(process, f"http://127.0.0.1:{chosen_port}", log_path)
    try:
        _wait_ready(server, timeout, poll_interval)
    except BaseException:
        server.stop()
        raise
    return server
