"""The console chat shows the person only the conversation: logs go to RUTA_HOME/logs/chat.log (or, with
--verbose, to stderr), as JSON lines like the servers'. Rasa is down (a closed port) in every test here, so
every run has warnings to keep off the screen."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.rasa_server import closed_port
from tests.ruta_process import RUTA, ruta_env

PROMPT = "🧑 ".encode()
ANSWERS = ["si", "tengo un almacen en vallenar hace 4 años, somos 2", "vendo como 800 lucas al mes", "no", "en mi casa"]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture
def rasa_down(tmp_path: Path, model_cache: Path) -> Iterator[dict[str, str]]:
    """Settings for `ruta chat` with RUTA_NLU_BACKEND=rasa and RUTA_RASA_URL on a port nothing listens on."""
    holder, port = closed_port()
    try:
        yield ruta_env(
            tmp_path,
            RUTA_NLU_BACKEND="rasa",
            RUTA_RASA_URL=f"http://127.0.0.1:{port}",
            RUTA_NLU_CACHE=str(model_cache),
        )
    finally:
        holder.close()


class Terminal:
    """`ruta chat` on a pseudo-terminal: stdin, stdout and stderr are the one screen a person would see."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.screen = b""

    def read_until(self, marker: bytes, count: int, timeout: float = 120.0) -> None:
        """Read the screen until `marker` has appeared `count` times."""
        deadline = time.monotonic() + timeout
        while self.screen.count(marker) < count:
            assert time.monotonic() < deadline, f"no {marker!r} on the screen:\n{self.text}"
            if not self._read(0.2):
                assert self.process.poll() is None, f"the chat ended:\n{self.text}"

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the chat closed the terminal
            return False
        self.screen += chunk
        return bool(chunk)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def end(self) -> None:
        os.write(self.master, b"\x04")  # Ctrl-D
        self.process.wait(timeout=30)
        while self._read(0.1):
            pass
        os.close(self.master)

    @property
    def text(self) -> str:
        return self.screen.decode(errors="replace")


def _log_lines(home: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (home / "logs" / "chat.log").read_text(encoding="utf-8").splitlines()]


def _json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip().startswith("{")]


def test_the_interactive_chat_screen_holds_no_log_line_while_rasa_is_down(
    rasa_down: dict[str, str], tmp_path: Path
) -> None:
    terminal = Terminal([str(RUTA), "chat"], rasa_down, tmp_path)
    try:
        terminal.read_until(PROMPT, 1)
        for number, answer in enumerate(ANSWERS, start=2):
            terminal.type(answer)
            terminal.read_until(PROMPT, number)
    finally:
        terminal.end()
    screen = terminal.text
    assert "¿Dónde trabajas?" in screen, screen  # the conversation went on
    assert "Rasa" not in screen and "parse failed" not in screen, screen
    assert not _json_lines(screen) and '"level"' not in screen, screen
    logged = _log_lines(tmp_path)
    assert any(entry.get("event") == "rasa_parse_failed" for entry in logged)
    assert {"event": "nlu_breaker", "state": "open", "backend": "embedded"}.items() <= next(
        entry for entry in logged if entry.get("event") == "nlu_breaker"
    ).items()


def _chat_json(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUTA), "chat", "--json", "--today", "2026-03-10", *args],
        input="".join(f"{line}\n" for line in ["hola", *ANSWERS]),
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=300,
        check=True,
    )


def test_chat_json_keeps_stderr_clean_and_logs_to_the_file(rasa_down: dict[str, str], tmp_path: Path) -> None:
    done = _chat_json(rasa_down, tmp_path)
    assert len(done.stdout.splitlines()) == 1 + len(ANSWERS)
    assert done.stderr == ""
    events = [entry.get("event") for entry in _log_lines(tmp_path)]
    assert events.count("rasa_parse_failed") == 3 and events.count("nlu_breaker") == 1


def test_chat_verbose_logs_json_lines_on_stderr(rasa_down: dict[str, str], tmp_path: Path) -> None:
    done = _chat_json(rasa_down, tmp_path, "--verbose")
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert any(entry.get("event") == "nlu_breaker" and entry.get("state") == "open" for entry in lines)
    assert not (tmp_path / "logs" / "chat.log").exists()


@pytest.mark.parametrize(
    ("command", "lines"),
    [
        (["nlu", "parse", "-", "--backend", "rasa"], "hola\nvendo empanadas\nen copiapo\n"),
        (["chat", "--json", "--verbose"], "hola\nsi\nvendo empanadas en copiapo\nhace 3 años\n"),
    ],
    ids=["nlu-parse", "chat"],
)
def test_the_commands_honour_the_breaker_settings(
    rasa_down: dict[str, str], tmp_path: Path, command: list[str], lines: str
) -> None:
    done = subprocess.run(
        [str(RUTA), *command],
        input=lines,
        capture_output=True,
        text=True,
        env={**rasa_down, "RUTA_RASA_BREAKER_FAILURES": "1"},
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    assert len(done.stdout.splitlines()) == lines.count("\n")
    assert done.stderr.count("Rasa parse failed") == 1, done.stderr
