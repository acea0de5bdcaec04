"""The console channel: an interactive chat in the terminal, and the `--json` line protocol for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date
from typing import IO

from bot.engine import Delivery, Engine
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
        delivery = engine.respond(CHANNEL, user, line, today)
        out.write(json.dumps([reply.to_json() for reply in delivery.replies], ensure_ascii=False) + "\n")
        out.flush()
        engine.delivered(delivery)


def _show(reply: Reply) -> None:
    print(f"\n🤖 {reply.text}")
    for number, button in enumerate(reply.buttons, start=1):
        print(f"   [{number}] {button.title}")


def run_interactive(engine: Engine, user: str, today: date | None) -> None:
    """Chat in the terminal; a button is chosen by typing its number or its text. Ctrl-D or Ctrl-C ends."""
    print("Ruta Emprende Atacama — escribe tu mensaje (Ctrl-D para salir).")
    buttons = _say(engine, engine.respond(CHANNEL, user, "hola", today), [])
    while True:
        try:
            line = input("\n🧑 ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.strip().isdigit() and 0 < int(line) <= len(buttons):
            line = buttons[int(line) - 1]
        buttons = _say(engine, engine.respond(CHANNEL, user, line, today), [])


def _say(engine: Engine, delivery: Delivery, buttons: list[str]) -> list[str]:
    """Show the replies, then report them delivered; the payloads of the last buttons shown."""
    for reply in delivery.replies:
        _show(reply)
        buttons = [button.payload for button in reply.buttons] or buttons
    sys.stdout.flush()
    engine.delivered(delivery)
    return buttons
