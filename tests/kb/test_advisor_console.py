"""The staff console's "Atender con código" over HTTP, with the real sign-in, session cookie and CSRF token (as `ruta
serve` mounts the console under /admin): a code typed any way shows the person's answers and route, nothing that
identifies them; expired, unknown and malformed codes get a message; the roles that may use it; the code never
reaches the log; advisor accounts from the command line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.cli import main
from bot.handoffs import HandoffCodes
from bot.settings import Settings
from bot.staff_accounts import StaffAccounts
from bot.staff_console import create_console_app
from bot.storage import Store
from tests.conftest import COMPLETE_PROFILE
from tests.kb.test_staff_auth import PASSWORD, _sign_in, _token

KEY = "e" * 64
CODE = "RUTA-7K3Q"
PAGE = "/admin/atender"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One account per role, a finished conversation, its expired code (RUTA-EXPD) and its valid one (RUTA-7K3Q).
    Looking codes up changes nothing, so the tests share it."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.sqlite3'}")
    accounts = StaffAccounts(store)
    for name, role in [("luis", "advisor"), ("ana", "editor"), ("pedro", "publisher"), ("rosa", "analyst")]:
        accounts.create(name, role, PASSWORD)
    store.save_state(KEY, {"phase": "done", "consent": True, "slots": COMPLETE_PROFILE})
    codes = HandoffCodes(store, draw=iter(["RUTA-EXPD", CODE]).__next__)
    codes.code_for(KEY, datetime(2026, 1, 1, 15, tzinfo=UTC), timedelta(days=14))
    codes.code_for(KEY, datetime.now(UTC), timedelta(days=14))
    return store


@pytest.fixture(scope="module")
def app(store: Store) -> Starlette:
    settings = Settings(_env_file=None, admin_secret="s" * 32)  # type: ignore[call-arg]
    return Starlette(routes=[Mount("/admin", app=create_console_app(settings, store))])


@pytest.fixture
async def console(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


async def _look_up(console: httpx.AsyncClient, typed: str) -> httpx.Response:
    form = await console.get(PAGE)
    return await console.post(PAGE, data={"_csrf": _token(form), "code": typed})


async def test_an_advisor_types_a_code_and_sees_the_answers_and_route(console, caplog):
    caplog.set_level(logging.INFO)
    assert (await _sign_in(console, "luis")).status_code == 303
    home = await console.get("/admin/", follow_redirects=True)
    assert home.url.path == PAGE and "Atender con código" in home.text
    assert "rol advisor, editor, publisher; el rol analyst no" in home.text and "vale 14 días" in home.text
    assert "Pendientes" not in home.text  # the knowledge base is not an advisor's
    shown = await _look_up(console, " ruta 7k3q ")
    assert shown.status_code == 200
    assert "<b>Código RUTA-7K3Q</b>: vale hasta el" in shown.text
    for line in ("• Comuna: Vallenar", "• Ventas al mes: $900.000", "• Tramo del Registro Social de Hogares: 40%"):
        assert line in shown.text
    assert "<b>Ruta</b>" in shown.text and "📍 Centro de Negocios Sercotec Vallenar" in shown.text
    assert KEY not in shown.text
    assert [r.reason for r in caplog.records if getattr(r, "event", "") == "advisor_lookup"] == ["found"]
    assert CODE not in caplog.text and "7k3q" not in caplog.text


@pytest.mark.parametrize(
    ("typed", "status", "message"),
    [
        ("RUTA-EXPD", 410, "El código RUTA-EXPD venció el 15 ene 2026."),
        ("RUTA-2345", 404, "No existe el código RUTA-2345."),
        ("<b>RUTA-0</b>", 422, "«&lt;b&gt;RUTA-0&lt;/b&gt;» no es un código de atención."),
    ],
)
async def test_codes_that_show_nothing_say_why(console, typed, status, message):
    await _sign_in(console, "luis")
    page = await _look_up(console, typed)
    assert page.status_code == status
    assert message in page.text and 'id="refusal"' in page.text and 'id="summary"' not in page.text


async def test_who_may_attend(console):
    assert (await console.get(PAGE)).headers["location"].startswith("/admin/login")
    await _sign_in(console, "rosa")
    assert (await console.get(PAGE)).status_code == 403
    await _sign_in(console, "luis")
    assert (await console.get("/admin/kb")).status_code == 403
    for name in ("ana", "pedro"):
        await _sign_in(console, name)
        page = await console.get(PAGE)
        assert page.status_code == 200 and "Pendientes" in page.text and "Atender con código" in page.text
        assert (await _look_up(console, CODE)).status_code == 200


async def test_a_form_without_its_csrf_token_is_refused(console):
    await _sign_in(console, "luis")
    for token in ({}, {"_csrf": "forged"}):
        refused = await console.post(PAGE, data={**token, "code": CODE})
        assert refused.status_code == 403 and "Vallenar" not in refused.text


def test_advisor_accounts_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RUTA_HOME", str(tmp_path))
    from bot.settings import get_settings

    get_settings.cache_clear()
    made = CliRunner().invoke(
        main, ["admin", "create-user", "luis", "--role", "advisor", "--password-stdin"], input=PASSWORD
    )
    get_settings.cache_clear()
    assert made.exit_code == 0 and "created luis (advisor)" in made.output
