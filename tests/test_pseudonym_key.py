"""Issue 18: the pseudonym key is created atomically and a weak, empty or unreadable key stops the bot with a
clear message (exit 2) instead of anonymising nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.settings import PseudonymKeyError, Settings
from tests.ruta_process import run_ruta


def _settings(home: Path, **values: str) -> Settings:
    return Settings(_env_file=None, home=home, **values)  # type: ignore[call-arg]


def test_a_new_key_is_random_private_and_the_same_at_every_start(tmp_path):
    key = _settings(tmp_path).resolved_pseudonym_key()
    path = tmp_path / "pseudonym.key"
    assert len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _settings(tmp_path).resolved_pseudonym_key() == key
    assert [p.name for p in tmp_path.iterdir()] == ["pseudonym.key"]  # no temporary file left behind


def test_a_failure_between_write_and_rename_leaves_no_key_file(tmp_path, monkeypatch):
    def crash(*_):
        raise OSError("killed")

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(OSError):
        _settings(tmp_path).resolved_pseudonym_key()
    assert list(tmp_path.iterdir()) == []  # neither an empty key nor the half-made one
    monkeypatch.undo()
    assert len(_settings(tmp_path).resolved_pseudonym_key()) == 64  # the next start makes a whole key


def test_a_key_another_process_made_first_is_kept(tmp_path, monkeypatch):
    (tmp_path / "pseudonym.key").write_text("a" * 64)
    monkeypatch.setattr(Path, "exists", lambda self: False)  # as if both processes looked at the same moment
    assert _settings(tmp_path).resolved_pseudonym_key() == b"a" * 64


@pytest.mark.parametrize("content", ["", "\n", "abc123"], ids=["empty", "blank", "truncated"])
def test_an_empty_or_truncated_key_file_stops_the_chat_with_exit_2(tmp_path, content):
    (tmp_path / "pseudonym.key").write_text(content)
    with pytest.raises(PseudonymKeyError, match=r"pseudonym\.key is empty or too short"):
        _settings(tmp_path).resolved_pseudonym_key()
    done = run_ruta(tmp_path, "chat", "--json", input_text="hola\n")
    assert done.returncode == 2 and "pseudonym.key is empty or too short" in done.stderr
    assert "Traceback" not in done.stderr and "restore the file from a backup" in done.stderr


def test_a_short_configured_key_is_refused(tmp_path):
    done = run_ruta(tmp_path, "serve", RUTA_PSEUDONYM_KEY="short")
    assert done.returncode == 2 and "RUTA_PSEUDONYM_KEY must be at least 32 bytes" in done.stderr
