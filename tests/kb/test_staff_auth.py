"""The staff console's security: sign-in with argon2 hashes, lockout, signed sessions, CSRF on every form, roles;
the accounts command line. Over HTTP against the console app (as `ruta serve` mounts it under /admin)."""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.cli import main
from bot.settings import Settings
from bot.staff_accounts import StaffAccounts
from bot.staff_console import create_console_app
from bot.storage import Store

PASSWORD = "una-clave-larga-de-prueba"
LOCKOUT_SECONDS = 3.0  # long enough that a loaded machine still signs in again within it, waited for once
PAGES = ["/admin/kb", "/admin/kb/office", "/admin/preview", "/admin/publish", "/admin/versions", "/admin/audit"]


@pytest.fixture
def store(database_url: str) -> Store:
    store = Store(database_url)
    accounts = StaffAccounts(store)
    for name, role in [("ana", "editor"), ("pedro", "publisher"), ("rosa", "analyst")]:
        accounts.create(name, role, PASSWORD)
    return store


@pytest.fixture
async def console(store):
    settings = Settings(_env_file=None, admin_secret="s" * 32, admin_lockout_minutes=LOCKOUT_SECONDS / 60)  # type: ignore[call-arg]
    app = Starlette(routes=[Mount("/admin", app=create_console_app(settings, store))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


def _token(page: httpx.Response) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)


async def _sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    token = _token(await client.get("/admin/login"))
    form = {"_csrf": token, "username": name, "password": password}
    return await client.post("/admin/login?next=/admin/kb", data=form)


async def test_no_page_but_the_sign_in_is_reachable_without_a_session(console):
    for path in PAGES:
        page = await console.get(path)
        assert page.status_code == 303 and page.headers["location"].startswith("/admin/login")
    assert (await console.get("/admin/login")).status_code == 200


async def test_sign_in_and_out(console):
    signed = await _sign_in(console, "ana")
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/kb"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=28800" in cookie
    dashboard = await console.get("/admin/kb")
    assert dashboard.status_code == 200 and "ana · editor" in dashboard.text
    await console.post("/admin/logout", data={"_csrf": _token(dashboard)})
    assert (await console.get("/admin/kb")).status_code == 303


async def test_a_wrong_password_and_an_unknown_name_are_refused_alike(console):
    assert (await _sign_in(console, "ana", "otra-clave-equivocada")).status_code == 401
    assert (await _sign_in(console, "nadie", PASSWORD)).status_code == 401


async def test_five_failures_lock_the_account_for_a_while(console):
    for _ in range(5):
        await _sign_in(console, "ana", "otra-clave-equivocada")
    locked = time.monotonic()  # the fifth failure locked the account until at the latest LOCKOUT_SECONDS from now
    assert (await _sign_in(console, "ana")).status_code == 401  # locked, even with the right password
    time.sleep(max(0.0, locked + LOCKOUT_SECONDS + 0.1 - time.monotonic()))
    assert (await _sign_in(console, "ana")).status_code == 303


async def test_forged_or_missing_csrf_tokens_are_refused(console):
    login = await console.post("/admin/login", data={"_csrf": "forged", "username": "ana", "password": PASSWORD})
    assert login.status_code == 403
    await _sign_in(console, "pedro")
    for token in ({}, {"_csrf": "forged"}):
        posted = await console.post("/admin/publish", data={**token, "note": "x", "action": "publish"})
        assert posted.status_code == 403


async def test_roles(console):
    await _sign_in(console, "rosa")
    for path in PAGES:
        assert (await console.get(path)).status_code == 403
    assert "informes" in (await console.get("/admin/")).text
    await _sign_in(console, "pedro")
    page = await console.get("/admin/audit")
    assert (await console.post("/admin/audit", data={"_csrf": _token(page)})).status_code == 405  # never edited
    await _sign_in(console, "ana")
    page = await console.get("/admin/publish")
    refused = await console.post("/admin/publish", data={"_csrf": _token(page), "note": "x", "action": "publish"})
    assert refused.status_code == 403


async def test_the_password_is_never_in_the_database_or_the_logs(console, store, caplog):
    caplog.set_level(logging.DEBUG)
    await _sign_in(console, "ana")
    await _sign_in(console, "ana", "clave-equivocada-123")
    assert PASSWORD not in caplog.text and "clave-equivocada-123" not in caplog.text
    with store.engine.connect() as connection:
        for table in inspect(store.engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                assert PASSWORD not in str(row)


def test_accounts_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RUTA_HOME", str(tmp_path))
    from bot.settings import get_settings

    get_settings.cache_clear()
    run = CliRunner().invoke
    assert (
        run(main, ["admin", "create-user", "ana", "--role", "editor", "--password-stdin"], input=PASSWORD).exit_code
        == 0
    )
    taken = run(main, ["admin", "create-user", "ana", "--role", "editor", "--password-stdin"], input=PASSWORD)
    assert taken.exit_code == 2 and "already exists" in taken.stderr
    bad_role = run(main, ["admin", "create-user", "luis", "--role", "jefe", "--password-stdin"], input=PASSWORD)
    assert bad_role.exit_code == 2 and "--role: must be one of editor, publisher, analyst" in bad_role.stderr
    short = run(main, ["admin", "create-user", "luis", "--role", "editor", "--password-stdin"], input="corta")
    assert short.exit_code == 2 and "at least 12 characters" in short.stderr
    reset = run(main, ["admin", "reset-password", "ana", "--password-stdin"], input="otra-clave-larga-nueva")
    assert reset.exit_code == 0
    missing = run(main, ["admin", "reset-password", "nadie", "--password-stdin"], input="otra-clave-larga-nueva")
    assert missing.exit_code == 2 and "no account 'nadie'" in missing.stderr
    get_settings.cache_clear()
