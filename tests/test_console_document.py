"""`ruta chat`: the route as a PDF is saved in RUTA_HOME/documentos and its path shown; in `--json` the reply
gets "document" (the absolute path), the other replies keep their shape."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from click.testing import CliRunner

import bot.engine
import bot.logs
from bot.cli import main
from bot.console import run_interactive
from bot.settings import get_settings
from tests.channels.test_reminders_chat import DIAGNOSIS
from tests.test_conversations import make_engine

SCRIPT = [text for _, text in DIAGNOSIS] + ["no sé", "/pdf"]
USER = "56987654321"  # a phone number as the console's user id: it must not reach the document


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """RUTA_HOME in a temporary folder, read afresh by the settings."""
    monkeypatch.setenv("RUTA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def _pdf_text(path: Path) -> str:
    document = pypdfium2.PdfDocument(path)
    return " ".join(page.get_textpage().get_text_range() for page in document)


def test_chat_json_saves_the_pdf_in_the_home_and_names_its_path(
    home: Path, embedded_nlu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.engine, "build_engine", lambda settings: make_engine(embedded_nlu, tmp_path / "db.sqlite3"))
    monkeypatch.setattr(bot.logs, "configure_logging", lambda **_: None)  # the test's logging stays as it is
    script = "".join(line + "\n" for line in SCRIPT)
    result = CliRunner().invoke(main, ["chat", "--json", "--user", USER, "--today", "2026-12-04"], input=script)
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert len(answers) == len(SCRIPT)
    *before, last = answers
    assert all(set(reply) == {"text", "buttons", "diagnosis"} for replies in before for reply in replies)
    [sent] = [reply for reply in last if "document" in reply]
    path = Path(sent["document"])
    assert path.is_absolute() and path == (home / "documentos" / "ruta-2026-12-04.pdf").resolve()
    assert "PDF" in sent["text"] and path.read_bytes().startswith(b"%PDF")
    text = _pdf_text(path)
    assert "Hecha el 4 de diciembre de 2026" in text and USER not in text and USER.encode() not in path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing half-written left beside it


def test_the_interactive_chat_shows_the_saved_pdfs_path(
    embedded_nlu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = iter(SCRIPT[1:])  # the console says "hola" itself

    def typed(prompt: str = "") -> str:
        line = next(lines, None)
        if line is None:
            raise EOFError
        return line

    monkeypatch.setattr(builtins, "input", typed)
    engine = make_engine(embedded_nlu, tmp_path / "db.sqlite3")
    run_interactive(engine, USER, None, tmp_path / "documentos")
    [saved] = (tmp_path / "documentos").iterdir()
    assert saved.read_bytes().startswith(b"%PDF")
    shown = capsys.readouterr().out
    assert f"📄 {saved.resolve()}" in shown
