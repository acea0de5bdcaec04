"""What staff see for a hand-off code (bot/advisor.py) and `ruta advisor show` (bot/advisor_cli.py): the answers as
the chat names them, the diagnosis and route of the serving knowledge base, what to confirm; a conversation not
finished says so; nothing identifying. The command runs as a process with its own RUTA_HOME: exit 0 with the
summary, 1 for an unknown or expired code, 2 for text that cannot be a code or a database it cannot read."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.advisor import AdvisorDesk, AdvisorSummary, Attended, Naming, advisor_summary, render_attended
from bot.handoffs import HandoffCodes, Lookup
from bot.settings import REPO_ROOT
from bot.storage import Store
from knowledge import KnowledgeBase, diagnose, parse_profile
from tests.conftest import COMPLETE_PROFILE
from tests.ruta_process import run_ruta

TODAY = date(2026, 3, 10)
KEY = "f" * 64
CODE = "RUTA-7K3Q"


@pytest.fixture(scope="module")
def naming() -> Naming:
    return Naming.load(REPO_ROOT / "domain.yml")


def _done(**changes: Any) -> dict[str, Any]:
    slots = {name: value for name, value in COMPLETE_PROFILE.items() if name != "rsh_percentile"}
    return {"phase": "done", "consent": True, "slots": slots | changes, "unknown": ["rsh_percentile"]}


def _shown(summary: AdvisorSummary, kb: KnowledgeBase, fmt: str = "text") -> str:
    lookup = Lookup(CODE, KEY, datetime(2026, 3, 24, 12, tzinfo=UTC))
    return render_attended(Attended(lookup, TODAY, date(2026, 3, 24), summary, kb), fmt)  # type: ignore[arg-type]


def test_a_finished_conversation_shows_its_answers_diagnosis_and_route(kb: KnowledgeBase, naming: Naming) -> None:
    summary = advisor_summary(_done(), kb, TODAY, naming)
    shown = _shown(summary, kb)
    for line in ("• Comuna: Vallenar", "• Rubro: Comercio o almacén", "• Ventas al mes: $900.000",
                 "• Tiempo vendiendo: 48 meses", "• ¿Tiene inicio de actividades?: no", "• Dónde trabaja: En mi casa",
                 "• Cómo se identifica: Mujer", "• Edad: 52 años",
                 "• Tramo del Registro Social de Hogares: no lo sabía"):  # fmt: skip
        assert line in shown
    expected = diagnose(parse_profile(_done()["slots"], kb), kb, TODAY)
    assert summary.diagnosis is not None and summary.diagnosis.to_dict() == expected.to_dict()
    assert "Código RUTA-7K3Q: vale hasta el 24 mar 2026." in shown
    assert "• Segmento: de acumulación simple." in shown and "• Etapa: crecimiento." in shown
    assert "• Tamaño: microempresa." in shown
    assert "Por confirmar con la persona\n• Tramo del Registro Social de Hogares (no lo sabía)" in shown
    route = shown.split("\nRuta\n")[1]
    positions = [route.index(f"{step.step}. {step.result.instrument.name}") for step in expected.route]
    assert positions == sorted(positions)
    assert "📍 Centro de Negocios Sercotec Vallenar" in route and "📅 " in route
    assert "🔸 Le falta: tener inicio de actividades de primera categoría en el SII." in route  # Crece
    assert "❓ Por confirmar: estar en el 40% más vulnerable del Registro Social de Hogares." in route  # Fosis


def test_an_unfinished_conversation_shows_the_answers_so_far(kb: KnowledgeBase, naming: Naming) -> None:
    state = {"phase": "form", "consent": True, "slots": {"commune": "copiapo", "sector": "gastronomia"},
             "unknown": ["operating"], "requested_slot": "months_operating"}  # fmt: skip
    summary = advisor_summary(state, kb, TODAY, naming)
    shown = _shown(summary, kb)
    assert summary.diagnosis is None and summary.to_dict()["complete"] is False
    assert "El diagnóstico no está completo: la persona va en la pregunta «Tiempo vendiendo»." in shown
    assert "• Comuna: Copiapó\n• Rubro: Comida\n• ¿Ya vende?: no lo sabía" in shown
    assert "Ruta" not in shown and "Segmento" not in shown


def test_an_answer_the_knowledge_base_no_longer_knows_is_left_unknown(kb: KnowledgeBase, naming: Naming) -> None:
    summary = advisor_summary(_done(sector="pirateria"), kb, TODAY, naming)
    assert summary.diagnosis is not None and summary.diagnosis.profile.sector is None
    assert "• Rubro: pirateria" in _shown(summary, kb)


def test_html_escapes_and_nothing_identifies_the_person(kb: KnowledgeBase, naming: Naming, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    store.save_state(KEY, _done())
    code = HandoffCodes(store).code_for(KEY, datetime.now(UTC), timedelta(days=14)).code
    desk = AdvisorDesk(store, lambda: kb, naming, ZoneInfo("America/Santiago"))
    attended = desk.attend(code.lower())
    shown = [render_attended(attended, "text"), render_attended(attended, "html"), json.dumps(attended.to_dict())]
    assert all(KEY not in text for text in shown)
    assert "<b>Respuestas</b>" in shown[1] and "<script" not in shown[1]
    assert set(attended.to_dict()) == {"code", "valid_until", "today", "complete", "pending", "answers", "unknown",
                                       "diagnosis"}  # fmt: skip


# -- the command, as a process ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RUTA_HOME whose database has a finished conversation with a valid code and an expired one."""
    home = tmp_path_factory.mktemp("advisor-home")
    store = Store(f"sqlite:///{home / 'ruta.sqlite3'}")
    store.save_state(KEY, _done())
    codes = HandoffCodes(store, draw=iter(["RUTA-EXPD", CODE]).__next__)
    codes.code_for(KEY, datetime(2026, 1, 1, 15, tzinfo=UTC), timedelta(days=14))
    codes.code_for(KEY, datetime.now(UTC), timedelta(days=14))
    store.close()
    return home


def test_show_prints_the_summary_and_exits_0(home: Path) -> None:
    done = run_ruta(home, "advisor", "show", "ruta 7k3q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Código RUTA-7K3Q: vale hasta el ") and "• Comuna: Vallenar" in done.stdout
    as_json = run_ruta(home, "advisor", "show", CODE, "--json")
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    assert summary["code"] == CODE and summary["complete"] and summary["diagnosis"]["segment"] == "simple_accumulation"
    assert KEY not in done.stdout + as_json.stdout


@pytest.mark.parametrize(
    ("typed", "status", "message"),
    [
        ("RUTA-EXPD", 1, "ruta: El código RUTA-EXPD venció el 15 ene 2026."),
        ("RUTA-2345", 1, "ruta: No existe el código RUTA-2345."),
        ("RUTA-0OIL", 2, "ruta: CODE: «RUTA-0OIL» no es un código de atención."),
    ],
)
def test_codes_that_show_nothing_exit_1_or_2_with_a_message(home: Path, typed: str, status: int, message: str) -> None:
    done = run_ruta(home, "advisor", "show", typed)
    assert (done.returncode, done.stdout) == (status, "")
    assert done.stderr.startswith(message) and "Traceback" not in done.stderr


def test_a_missing_or_unreadable_database_exits_2_without_a_traceback(tmp_path: Path) -> None:
    missing = run_ruta(tmp_path, "advisor", "show", CODE)
    assert missing.returncode == 2 and "ruta: no hay base de datos en" in missing.stderr
    assert not (tmp_path / "ruta.sqlite3").exists()  # looking a code up creates nothing
    (tmp_path / "ruta.sqlite3").write_text("esto no es una base de datos")
    unreadable = run_ruta(tmp_path, "advisor", "show", CODE)
    assert unreadable.returncode == 2 and "ruta: no se pudo leer la base de datos" in unreadable.stderr
    assert "Traceback" not in missing.stderr + unreadable.stderr


def test_a_code_given_in_the_chat_shows_the_answers_and_nothing_identifying(tmp_path: Path) -> None:
    """The whole way: a conversation that says a name and a phone number, "/persona" for the code, the command."""
    key = "clave-de-prueba-de-al-menos-32-bytes"
    script = ["hola, soy María González, mi teléfono es +56 9 8765 4321", "si",
              "tengo un almacen en vallenar hace 4 años, somos 2", "vendo como 800 lucas al mes", "no", "en mi casa",
              "a veces", "si", "plata", "mujer", "52", "no sé", "/persona"]  # fmt: skip
    chat = run_ruta(tmp_path, "chat", "--json", "--user", "56987654321", input_text="\n".join(script) + "\n",
                    RUTA_PSEUDONYM_KEY=key)  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    [code] = set(re.findall(r"RUTA-[2-9A-Z]{4}", chat.stdout))
    done = run_ruta(tmp_path, "advisor", "show", code, RUTA_PSEUDONYM_KEY=key)
    assert done.returncode == 0, done.stderr
    assert "• Ventas al mes: $800.000" in done.stdout
    assert "• Tramo del Registro Social de Hogares: no lo sabía" in done.stdout
    for identifying in ("María", "González", "8765", "56987654321"):
        assert identifying not in done.stdout
    pseudonym = hmac.new(key.encode(), b"console:56987654321", hashlib.sha256).hexdigest()
    found = HandoffCodes(Store(f"sqlite:///{tmp_path / 'ruta.sqlite3'}")).look_up(code, datetime.now(UTC))
    assert found.user_key == pseudonym
