"""The console channel: an interactive chat in the terminal, and the `--json` line protocol for scripts.

A reply's document (the route as a PDF) is saved in the documents folder (RUTA_HOME/documentos) under its own
name, and its path is shown after the text (in `--json`, as the reply's "document")."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

from bot.engine import Delivery, Engine
from bot.replies import Reply

__all__ = ["CHANNEL", "run_interactive", "run_json"]

CHANNEL = "console"


def _lines(stream: IO[str]) -> Iterator[str]:
    """Lines as they arrive (no read-ahead), without the newline."""
    for line in iter(stream.readline, ""):
        yield line.rstrip("\r\n")


def run_json(engine: Engine, stream: IO[str], user: str, today: date | None, documents: Path) -> None:
    """For each input line print one line: a JSON array of the replies to it, then flush."""
    out = sys.stdout
    for line in _lines(stream):
        delivery = engine.respond(CHANNEL, user, line, today)
        replies = [reply.to_json(_save(reply, documents)) for reply in delivery.replies]
        out.write(json.dumps(replies, ensure_ascii=False) + "\n")
        out.flush()
        engine.delivered(delivery)


def _save(reply: Reply, folder: Path) -> Path | None:
    """The absolute path where the reply's document is saved in `folder` (a file of that name is replaced: the
    same day's route, made again); None when the reply has no document."""
    if reply.document is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / Path(reply.document.filename).name).resolve()
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(reply.document.data)
    partial.replace(path)  # whole or not at all: a reader never opens half a PDF
    return path


def _show(reply: Reply, saved: Path | None) -> None:
    print(f"\n🤖 {reply.text}")
    if saved is not None:
        print(f"   📄 {saved}")
    for number, button in enumerate(reply.buttons, start=1):
        print(f"   [{number}] {button.title}")


def run_interactive(engine: Engine, user: str, today: date | None, documents: Path) -> None:
    """Chat in the terminal; a button is chosen by typing its number or its text. Ctrl-D or Ctrl-C ends."""
    print("Ruta Emprende Atacama — escribe tu mensaje (Ctrl-D para salir).")
    buttons = _say(engine, engine.respond(CHANNEL, user, "hola", today), [], documents)
    while True:
        try:
            line = input("\n🧑 ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.strip().isdigit() and 0 < int(line) <= len(buttons):
            line = buttons[int(line) - 1]
        buttons = _say(engine, engine.respond(CHANNEL, user, line, today), [], documents)


def _say(engine: Engine, delivery: Delivery, buttons: list[str], documents: Path) -> list[str]:
    """Show the replies (saving their documents in `documents`), then report them delivered; the payloads of the
    last buttons shown."""
    for reply in delivery.replies:
        _show(reply, _save(reply, documents))
        buttons = [button.payload for button in reply.buttons] or buttons
    sys.stdout.flush()
    engine.delivered(delivery)
    return buttons
