"""`ruta diagnose`: the JSON-lines contract, renderings, and bad input answered with exit 2 naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main

EXAMPLE = Path(__file__).parents[1] / "bot" / "examples" / "almacen_vallenar.json"
CONTRACT_KEYS = {"segment", "family", "stage", "size", "pertinence", "instruments", "route"}
STEP_KEYS = {"step", "instrument", "action", "opens", "closes", "office"}


def _run(stdin: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["diagnose", "-", "--today", "2026-03-10", *args], input=stdin)


def test_console_script_diagnoses_the_example_file() -> None:
    ruta = Path(sys.executable).with_name("ruta")
    done = subprocess.run(
        [str(ruta), "diagnose", str(EXAMPLE), "--today", "2026-03-10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    diagnosis = json.loads(line)
    assert diagnosis.keys() >= CONTRACT_KEYS
    assert diagnosis["route"], "the example profile gets a route"
    for step in diagnosis["route"]:
        assert step.keys() >= STEP_KEYS
    for item in diagnosis["instruments"]:
        assert {"id", "eligible", "reasons", "missing"} <= item.keys()


def test_json_lines_give_one_diagnosis_per_line(profile_data: dict[str, Any]) -> None:
    lines = [json.dumps({**profile_data, "age": age}) for age in (17, 30, 70)]
    result = _run("\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 3


def test_a_json_array_gives_one_diagnosis_per_item(profile_data: dict[str, Any]) -> None:
    result = _run(json.dumps([profile_data, profile_data], indent=2))
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 2


def test_a_pretty_printed_object_is_one_profile() -> None:
    result = _run(EXAMPLE.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 1


def test_an_all_unknown_profile_is_diagnosed() -> None:
    result = _run("{}")
    assert result.exit_code == 0, result.output
    diagnosis = json.loads(result.output)
    assert diagnosis["size"] is None
    assert all(not item["eligible"] or not item["missing"] for item in diagnosis["instruments"])


BAD_PROFILES = [
    ({"commune": "santiago"}, "input: commune: unknown commune 'santiago'"),
    ({"sector": "pirateria"}, "input: sector: unknown sector 'pirateria'"),
    ({"workers": -1}, "input: workers: "),
    ({"workers": "cinco"}, "input: workers: must be a whole number, got 'cinco'"),
    ({"age": 1.5}, "input: age: must be a whole number"),
    ({"formal": "quizas"}, "input: formal: must be true or false"),
    ({"rsh_percentile": 30}, "input: rsh_percentile: "),
    ({"premises": "castle"}, "input: premises: "),
    ({"comuna": "caldera"}, "input: comuna: unknown field"),
    (["not", "an", "object"], "item 1: profile: must be a JSON object"),
    (42, "input: profile: must be a JSON object"),
]


@pytest.mark.parametrize(("profile", "message"), BAD_PROFILES, ids=[m for _, m in BAD_PROFILES])
def test_bad_profiles_exit_2_naming_the_field(profile: Any, message: str) -> None:
    result = _run(json.dumps(profile))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_bad_line_names_its_line(profile_data: dict[str, Any]) -> None:
    result = _run(json.dumps(profile_data) + "\n{not json\n")
    assert result.exit_code == 2
    assert "line 2: invalid JSON" in result.stderr


def test_every_bad_line_is_reported(profile_data: dict[str, Any]) -> None:
    lines = [json.dumps({**profile_data, "age": -3}), json.dumps(profile_data), json.dumps({"workers": "x"})]
    result = _run("\n".join(lines))
    assert result.exit_code == 2
    assert "line 1: age:" in result.stderr
    assert "line 3: workers:" in result.stderr


def test_empty_input_exits_2() -> None:
    result = _run("  \n")
    assert result.exit_code == 2
    assert "no profile given" in result.stderr


def test_a_bad_today_exits_2() -> None:
    result = CliRunner().invoke(main, ["diagnose", "-", "--today", "2026-02-30"], input="{}")
    assert result.exit_code == 2
    assert "--today" in result.output


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diagnose", str(tmp_path / "missing.json")])
    assert result.exit_code == 2


def test_text_format_is_the_message_in_spanish(profile_data: dict[str, Any]) -> None:
    result = _run(json.dumps(profile_data), "--format", "text")
    assert result.exit_code == 0, result.output
    assert "Tu diagnóstico" in result.output
    assert "Tu ruta, paso a paso" in result.output
    assert "<b>" not in result.output


def test_html_format_bolds_titles_and_escapes_values(profile_data: dict[str, Any]) -> None:
    result = _run(json.dumps(profile_data), "--format", "html")
    assert result.exit_code == 0, result.output
    assert "<b>Tu diagnóstico</b>" in result.output
    assert "&" not in result.output.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace(
        "&#34;", ""
    ).replace("&#39;", "")
