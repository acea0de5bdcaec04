"""The console channel: an interactive chat in the terminal, and the `--json` line protocol for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date
from typing import IO

from bot.engine import Engine
from bot.replies import Reply

__all__ = ["CHANNEL", "run_interactive", "run_json"]

CHANNEL = "console"


def _lines(stream: IO[str]) -> Iterator[str]:
    """Lines as they arrive (no read-ahead), without the newline."""
    for line in iter(stream.readline, ""):
        yield line.rstrip("\r\n")


def run_json(engine: Engine, stream: IO[str], user: str, today: date | None) -> None:
    """For each input line print one line: a JSON array of the replies to it, then flush."""
    out = sys.stdout
    for line in _lines(stream):
        replies = engine.handle(CHANNEL, user, line, today)
        out.write(json.dumps([reply.to_json() for reply in replies], ensure_ascii=False) + "\n")
        out.flush()


def _show(reply: Reply) -> None:
    print(f"\n🤖 {reply.text}")
    for number, button in enumerate(reply.buttons, start=1):
        print(f"   [{number}] {button.title}")


def run_interactive(engine: Engine, user: str, today: date | None) -> None:
    """Chat in the terminal; a button is chosen by typing its number or its text. Ctrl-D or Ctrl-C ends."""
    print("Ruta Emprende Atacama — escribe tu mensaje (Ctrl-D para salir).")
    buttons: list[str] = []
    for reply in engine.handle(CHANNEL, user, "hola", today):
        _show(reply)
        buttons = [button.payload for button in reply.buttons] or buttons
    while True:
        try:
            line = input("\n🧑 ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.strip().isdigit() and 0 < int(line) <= len(buttons):
            line = buttons[int(line) - 1]
        replies = engine.handle(CHANNEL, user, line, today)
        buttons = []
        for reply in replies:
            _show(reply)
            buttons = [button.payload for button in reply.buttons] or buttons
