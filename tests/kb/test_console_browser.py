"""Issue 10 in a real browser: headless Chromium from Debian (`make test` installs it), driven by Playwright,
against `ruta admin serve` as a process, with `ruta chat --json` already running beside it and never restarted.

Sign in; a save with a close date before the open date shows the message beside the field; fill an office's
address; preview a profile; publish; the running chat shows the new address in its answer; roll back and it
shows the old one. Screenshots of each page go to build/console-screenshots/ (look at them)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kb.live_chat import QUESTION, RunningChat
from tests.ruta_process import RUTA, ruta_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
SETTINGS = {"RUTA_ADMIN_SECRET": "x" * 40, "RUTA_KB_REFRESH_SECONDS": "0.5"}
PASSWORD = "clave-larga-del-publicador"
ADDRESS = "Los Carrera 550, Copiapó"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]  # fmt: skip

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[str]:
    """`ruta admin serve` on a free port with one publisher account, home shared with the chat."""
    create = [str(RUTA), "admin", "create-user", "pedro", "--role", "publisher", "--password-stdin"]
    subprocess.run(create, input=PASSWORD, env=ruta_env(tmp_path, **SETTINGS), check=True, text=True, timeout=60)
    port = _free_port()
    server = subprocess.Popen([str(RUTA), "admin", "serve", "--port", str(port)], env=ruta_env(tmp_path, **SETTINGS),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/admin"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


async def test_staff_change_an_address_and_the_running_chat_follows(console_url, tmp_path):
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with RunningChat(tmp_path, **SETTINGS) as chat:
        assert "por confirmar" in chat.ask(QUESTION)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = await browser.new_page(viewport={"width": 1200, "height": 900})

            await page.goto(f"{console_url}/kb")  # not signed in: the sign-in page
            await page.screenshot(path=SHOTS / "01-sign-in.png")
            await page.fill("#username", "pedro")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{console_url}/kb")
            await page.screenshot(path=SHOTS / "02-dashboard.png", full_page=True)

            await page.goto(f"{console_url}/kb/call/0")
            await page.fill("#opens", "2025-05-01")
            await page.fill("#closes", "2025-04-01")
            await page.click("form.card button[type=submit]")
            beside = await page.inner_text("#field-closes .error")
            assert beside == "la fecha de cierre (2025-04-01) es anterior a la de apertura (2025-05-01)"
            assert "Cierra el" in await page.inner_text("#errors")
            await page.screenshot(path=SHOTS / "03-error-beside-the-field.png", full_page=True)

            await page.goto(f"{console_url}/kb/office/sercotec_centro_negocios_copiapo")
            await page.fill("#address", ADDRESS)
            await page.fill("#_note", "dirección confirmada por teléfono")
            await page.click("form.card button[type=submit]")
            assert "Guardado en el borrador (address)" in await page.inner_text("#saved")
            await page.screenshot(path=SHOTS / "04-office-saved.png", full_page=True)

            await page.goto(f"{console_url}/preview")
            await page.select_option("#commune", "caldera")
            await page.select_option("#sector", "turismo")
            await page.click("form.card button[type=submit]")
            assert ADDRESS in await page.inner_text("#route-draft")
            assert ADDRESS not in await page.inner_text("#route-published")
            await page.screenshot(path=SHOTS / "05-preview.png", full_page=True)

            await page.goto(f"{console_url}/publish")
            assert "perfiles de ejemplo" in await page.inner_text("#summary")
            await page.fill("#note", "dirección del Centro de Negocios de Copiapó")
            await page.screenshot(path=SHOTS / "06-publish.png", full_page=True)
            await page.click("button[value=publish]")
            await page.wait_for_url(f"{console_url}/versions?publicado=1")
            await page.screenshot(path=SHOTS / "07-versions.png", full_page=True)

            assert chat.wait_for(ADDRESS) < 10  # the running chat, never restarted, now answers with it

            await page.locator("tr", has_text="inicial").locator("button").click()
            await page.wait_for_url(f"{console_url}/versions")
            chat.wait_for("por confirmar")

            await page.goto(f"{console_url}/audit")
            audit = await page.inner_text("main")
            assert ADDRESS in audit and "publicación" in audit and "vuelta atrás" in audit
            await page.screenshot(path=SHOTS / "08-audit.png", full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})  # a phone
            await page.goto(f"{console_url}/kb/office/sercotec_centro_negocios_copiapo")
            await page.screenshot(path=SHOTS / "09-phone-edit.png", full_page=True)
            await browser.close()
