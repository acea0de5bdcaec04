"""Rasa killed and started again during a conversation (issue 12), through the real `ruta chat --json`.

The test starts its own Rasa server (tests/rasa_service.py; the session's `rasa_server` is shared and must not be
killed), records the conversation with Rasa up all along and with the embedded NLU alone (the script's messages
are chosen so that both read them alike: the two records must be equal), then runs it once more in a new
`ruta chat --json` process fed line by line: a few answers with Rasa up, then Rasa's whole process group is
SIGKILLed, a few answers more, then Rasa is started again on the same port and the conversation ends there.

Every reply must be the reference's, and the route and diagnosis too. Which NLU parsed each message is read from
the outside, in the chat's log (RUTA_HOME/logs/chat.log), line by line: with Rasa down the first
RUTA_RASA_BREAKER_FAILURES texts each log `rasa_parse_failed` (and fall back), the last of them opens the breaker
(`nlu_breaker` open), the next ones log nothing (straight to the embedded NLU); once Rasa is back the probe logs
`half_open`, the next text is Rasa's trial and closes the breaker, and the rest log nothing (Rasa parses).
No reply waits on time: the only waits are bounded polls that fail the test when what they wait for never comes.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from tests.rasa_service import RasaServer, start_rasa_server
from tests.ruta_process import RUTA, ruta_env

pytestmark = pytest.mark.rasa

TODAY = "2026-03-10"
FAILURES = 3  # RUTA_RASA_BREAKER_FAILURES (its default, set explicitly: the script is built around it)
COOLDOWN = 1.0  # RUTA_RASA_BREAKER_COOLDOWN: seconds between the open breaker's probes of Rasa's /status
RASA_TIMEOUT = 10.0  # RUTA_RASA_TIMEOUT: a freshly started Rasa's first parse on a busy 2-core machine is slow
REPLY_WAIT = 120.0  # bound on one reply of `ruta chat` (a turn takes milliseconds; only a hang reaches it)
BACK_WAIT = 60.0  # bound on the breaker's probe finding the restarted Rasa (COOLDOWN after it answers /status)

# Every message below is free text for the NLU (no typed button title, which the engine reads as the button's
# payload without asking any NLU), except where noted; both NLUs read each one alike (checked by the references).
UP = ["hola", "si", "en vallenar", "tengo un almacen"]  # Rasa parses
DOWN = [  # Rasa killed: FAILURES texts fail and fall back, then the breaker is open
    "si",
    "hace 4 años",
    "vendo como 800 mil al mes",
    "somos 2",
    "no tengo inicio de actividades",
]
BACK = [  # Rasa started again: its trial, then Rasa parses; the diagnosis, then questions about the route
    "trabajo en mi casa",
    "a veces me sobra",
    "no anoto nada",
    "necesito plata",
    "Mujer",
    "tengo 52 años",
    "40%",
    "¿qué pide Crece?",
    "¿cuándo cierra Capital Semilla?",
]
BUTTONS = {"Mujer", "40%"}  # typed button titles: no NLU, so no log line either way

Replies = list[dict[str, Any]]


class Chat:
    """`ruta chat --json` in its own home, fed one line at a time through a pipe, as a script of a user would."""

    def __init__(self, home: Path, **settings: str) -> None:
        home.mkdir(parents=True)
        self.log = home / "logs" / "chat.log"
        self._log_offset = 0
        self._stderr_path = home / "stderr.txt"
        self._stderr = self._stderr_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [str(RUTA), "chat", "--json", "--today", TODAY],
            env=ruta_env(home, **settings),
            cwd=home,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin: IO[str] = self.process.stdin
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the process is gone

    def send(self, message: str) -> tuple[Replies, list[dict[str, Any]]]:
        """Send one line; its replies, and the log lines written while it was answered."""
        self._stdin.write(message + "\n")
        self._stdin.flush()
        try:
            line = self._lines.get(timeout=REPLY_WAIT)
        except queue.Empty:
            pytest.fail(f"no reply to {message!r} within {REPLY_WAIT:g} s")
        assert line, f"`ruta chat` ended at {message!r}: {self.stderr()}"
        replies: Replies = json.loads(line)
        return replies, self.events()

    def events(self) -> list[dict[str, Any]]:
        """The log lines written since the last call (each a JSON object)."""
        if not self.log.exists():
            return []
        with self.log.open("rb") as handle:
            handle.seek(self._log_offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        self._log_offset += len(complete)
        return [json.loads(line) for line in complete.decode("utf-8").splitlines()]

    def stderr(self) -> str:
        """What the process wrote to its stderr so far (nothing, when all goes well: its logs go to the file)."""
        return self._stderr_path.read_text(encoding="utf-8")

    def close(self) -> int:
        """End the input (as Ctrl-D would) and return the exit code."""
        self._stdin.close()
        try:
            return self.process.wait(timeout=REPLY_WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._stderr.close()


def nlu_events(entries: list[dict[str, Any]]) -> list[str]:
    """What the log says about the NLU: `failed` per Rasa parse that fell back, the breaker's new states."""
    return [
        "failed" if entry["event"] == "rasa_parse_failed" else f"{entry['state']}:{entry['backend']}"
        for entry in entries
        if entry.get("event") in {"rasa_parse_failed", "nlu_breaker"}
    ]


def troubles(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log lines of errors (a failed turn, an exception anywhere)."""
    return [entry for entry in entries if entry.get("level") in {"error", "critical"} or "exception" in entry]


def record(home: Path, messages: list[str], **settings: str) -> tuple[list[Replies], list[dict[str, Any]]]:
    """The whole conversation in one `ruta chat --json`: the replies to each message, and every log line."""
    chat = Chat(home, **settings)
    replies, entries = [], []
    try:
        for message in messages:
            answer, logged = chat.send(message)
            replies.append(answer)
            entries += logged
    finally:
        code = chat.close()
    assert code == 0 and chat.stderr() == "", chat.stderr()
    return replies, entries + chat.events()


def diagnosis(replies: list[Replies]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [reply["diagnosis"] for batch in replies for reply in batch if reply.get("diagnosis")]
    assert len(found) == 1, "the conversation reaches one diagnosis"
    return found[0]


def test_rasa_killed_and_started_again_mid_conversation(tmp_path: Path) -> None:
    script = UP + DOWN + BACK
    rasa_settings = {
        "RUTA_NLU_BACKEND": "rasa",
        "RUTA_RASA_TIMEOUT": str(RASA_TIMEOUT),
        "RUTA_RASA_BREAKER_FAILURES": str(FAILURES),
        "RUTA_RASA_BREAKER_COOLDOWN": str(COOLDOWN),
    }
    rasa: RasaServer = start_rasa_server(env={"RASA_STRICT": "1"}, log_dir=tmp_path / "rasa")
    try:
        port = urlsplit(rasa.url).port
        assert port is not None
        settings = {**rasa_settings, "RUTA_RASA_URL": rasa.url}
        reference, reference_log = record(tmp_path / "reference-rasa", script, **settings)
        assert nlu_events(reference_log) == [] and troubles(reference_log) == [], "Rasa parsed the whole reference"
        embedded, _ = record(tmp_path / "reference-embedded", script, RUTA_NLU_BACKEND="embedded")
        assert embedded == reference, "the script's messages are read alike by Rasa and the embedded NLU"

        chat = Chat(tmp_path / "restart", **settings)
        seen: list[Replies] = []
        logged: list[list[str]] = []
        everything: list[dict[str, Any]] = []
        try:
            for message in UP:
                answer, entries = chat.send(message)
                seen.append(answer)
                logged.append(nlu_events(entries))
                everything += entries
            rasa.kill()
            for message in DOWN:
                answer, entries = chat.send(message)
                seen.append(answer)
                logged.append(nlu_events(entries))
                everything += entries
            idle = chat.events()  # the probes of a dead Rasa fail without a word
            restarting = time.monotonic()
            rasa = start_rasa_server(port=port, log_dir=tmp_path / "rasa", prepare=False)
            restarted = time.monotonic()
            deadline = restarted + BACK_WAIT
            while "half_open:rasa" not in nlu_events(idle):
                assert time.monotonic() < deadline, f"the breaker never probed Rasa back: {nlu_events(idle)}"
                time.sleep(0.05)
                idle += chat.events()
            noticed = time.monotonic()
            everything += idle
            for message in BACK:
                answer, entries = chat.send(message)
                seen.append(answer)
                logged.append(nlu_events(entries))
                everything += entries
        finally:
            code = chat.close()
        everything += chat.events()
    finally:
        rasa.stop()

    assert code == 0 and chat.stderr() == "", f"no error reached the screen: {chat.stderr()}"
    assert troubles(everything) == []
    assert seen == reference, "every reply is the one of the conversation with Rasa up all along"
    assert diagnosis(seen) == diagnosis(reference)
    texts_down = [message not in BUTTONS for message in DOWN]
    assert all(texts_down[:FAILURES]), "the first messages with Rasa down are texts for the NLU"
    assert logged[: len(UP)] == [[]] * len(UP), "Rasa up: every message parsed by Rasa, nothing logged"
    assert logged[len(UP) : len(UP) + len(DOWN)] == [
        *[["failed"]] * (FAILURES - 1),
        ["failed", "open:embedded"],
        *[[]] * (len(DOWN) - FAILURES),
    ], "Rasa killed: each text falls back, the breaker opens after FAILURES, then the embedded NLU parses at once"
    assert nlu_events(idle) == ["half_open:rasa"], "Rasa started again: the probe finds it once"
    assert BACK[0] not in BUTTONS
    assert logged[len(UP) + len(DOWN) :] == [["closed:rasa"], *[[]] * (len(BACK) - 1)], (
        "Rasa back: the first text is its trial and closes the breaker, Rasa parses every later one"
    )
    print(f"Rasa restarted in {restarted - restarting:.1f} s; the breaker noticed it {noticed - restarted:.1f} s later")
