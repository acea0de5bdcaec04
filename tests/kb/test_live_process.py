"""Issue 10: a running bot switches to a newly published knowledge base within seconds, without a restart, and
back again on a rollback; each diagnosis keeps the version that made it."""

from __future__ import annotations

from pathlib import Path

from tests.kb.live_chat import QUESTION, RunningChat, publish_address
from tests.ruta_process import run_ruta

FAST = {"RUTA_KB_REFRESH_SECONDS": "0.5"}


def test_a_running_chat_follows_publish_and_rollback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with RunningChat(home, **FAST) as chat:
        assert "por confirmar" in chat.ask(QUESTION)
        publish_address(home, "Atacama 1024, Copiapó", **FAST)
        assert chat.wait_for("Atacama 1024, Copiapó") < 10
        publish_address(home, "Colipí 570, Copiapó", **FAST)
        chat.wait_for("Colipí 570, Copiapó")
        history = run_ruta(home, "kb", "versions").stdout.splitlines()
        first = history[-1].split()[3]  # "v1"
        assert run_ruta(home, "kb", "rollback", first[1:], "--note", "volver", **FAST).returncode == 0
        chat.wait_for("por confirmar")
    assert [line.split()[5] for line in run_ruta(home, "kb", "versions").stdout.splitlines()] == [
        "rollback",
        "publish",
        "publish",
        "seed",
    ]


def test_bad_imports_and_versions_exit_with_their_codes(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "offices.yml").write_text("- id: [\n")
    refused = run_ruta(tmp_path, "kb", "import", str(broken), "--note", "roto")
    assert refused.returncode == 1 and "offices.yml: invalid YAML" in refused.stdout
    missing = run_ruta(tmp_path, "kb", "rollback", "99", "--note", "x")
    assert missing.returncode == 2 and "no version 99" in missing.stderr
    assert run_ruta(tmp_path, "kb", "export", str(tmp_path / "e"), "--version", "7").returncode == 2
