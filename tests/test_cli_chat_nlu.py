"""The `ruta chat --json` and `ruta nlu parse|eval` contracts, through the installed command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUTA = str(Path(sys.executable).with_name("ruta"))
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture
def env(tmp_path: Path, model_cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RUTA_HOME": str(tmp_path),
        "RUTA_PSEUDONYM_KEY": "test-key-of-at-least-thirty-two-bytes",
        "RUTA_NLU_CACHE": str(model_cache),
    }


def _chat(lines: list[str], env: dict[str, str], *args: str) -> list[list[dict[str, object]]]:
    done = subprocess.run(
        [RUTA, "chat", "--json", "--today", "2026-03-10", *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_chat_json_prints_one_array_per_line(env: dict[str, str]) -> None:
    answers = _chat(["hola", "si", "caldera"], env)
    assert len(answers) == 3
    for replies in answers:
        assert replies and all(set(reply) == {"text", "buttons", "diagnosis"} for reply in replies)
    assert "Sí, sigamos" in answers[0][-1]["buttons"]
    assert answers[2][-1]["text"].startswith("¿A qué te dedicas?")


def test_chat_json_state_persists_between_runs_for_the_same_user(env: dict[str, str]) -> None:
    _chat(["hola", "si", "tengo un almacen en vallenar hace 4 años, somos 2"], env, "--user", "ana")
    script = [
        "vendo como 800 lucas al mes",
        "no",
        "en mi casa",
        "a veces",
        "si",
        "necesito plata",
        "Mujer",
        "tengo 52 años",
        "40%",
    ]
    answers = _chat(script, env, "--user", "ana")
    diagnoses = [reply["diagnosis"] for reply in answers[-1] if reply["diagnosis"]]
    assert len(diagnoses) == 1
    assert diagnoses[0]["segment"] == "simple_accumulation"
    assert diagnoses[0]["route"][0]["instrument"] == "sercotec_centro_negocios"
    assert _chat(["hola"], env, "--user", "otra")[0][-1]["buttons"] == ["Sí, sigamos", "No, gracias"]


def test_chat_script_file(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("hola\nsi\n", encoding="utf-8")
    done = subprocess.run(
        [RUTA, "chat", "--json", "--script", str(script)], capture_output=True, text=True, env=env, check=True
    )
    assert len(done.stdout.splitlines()) == 2


def test_nlu_parse_has_the_shape_of_rasa(env: dict[str, str]) -> None:
    done = subprocess.run(
        [RUTA, "nlu", "parse", "-"],
        input="vendo empanadas en copiapo\nsomos 3\n",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["intent"]["name"] == "inform" and 0 <= first["intent"]["confidence"] <= 1
    assert {(e["entity"], e["value"]) for e in first["entities"]} >= {("sector", "gastronomia"), ("commune", "copiapo")}
    for entity in first["entities"]:
        assert first["text"][entity["start"] : entity["end"]]
    assert {"entity": "number", "value": 3, "role": "workers"}.items() <= second["entities"][0].items()


def test_nlu_eval_reports_the_figures(env: dict[str, str]) -> None:
    done = subprocess.run(
        [RUTA, "nlu", "eval", str(ROOT / "nlu" / "heldout" / "test.yml")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(done.stdout.splitlines()[0])
    assert report["backend"] == "embedded"
    assert set(report) >= {"intent_accuracy", "intent_macro_f1", "entity_precision", "entity_recall", "entity_f1"}


def test_the_rasa_backend_falls_back_when_rasa_is_down(env: dict[str, str]) -> None:
    env = {**env, "RUTA_RASA_URL": "http://127.0.0.1:9", "RUTA_RASA_TIMEOUT": "0.5"}
    done = subprocess.run(
        [RUTA, "nlu", "parse", "hola", "--backend", "rasa"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout)["intent"]["name"] == "greet"
    assert "Rasa parse failed" in done.stderr
