"""The knowledge-base pages of the staff console over HTTP (the security layer is stood in for by a gate that
reads who is signed in from a test header; the real one has its own tests): edit with errors beside the field,
preview side by side, publish with a note, versions and rollback, the audit log, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from bot.kb_console import KnowledgeConsole
from bot.kb_drafts import Drafts
from bot.kb_versions import KnowledgeVersions
from bot.storage import Store

CENTRE = "/admin/kb/office/sercotec_centro_negocios_copiapo"


@dataclass
class Member:
    name: str
    role: str


class HeaderGate:
    """Who is signed in comes from `X-Test-Staff: name:role`; the CSRF token is a fixed hidden field."""

    def staff(self, request: Request) -> Member | None:
        given = request.headers.get("x-test-staff")
        return Member(*given.split(":")) if given else None

    def csrf_field(self, request: Request) -> Markup:
        return Markup('<input type="hidden" name="_csrf" value="ok">')

    async def csrf_ok(self, request: Request) -> bool:
        return (await request.form()).get("_csrf") == "ok"


@pytest.fixture
def drafts(tmp_path: Path) -> Drafts:
    versions = KnowledgeVersions(Store(f"sqlite:///{tmp_path / 'kb.sqlite3'}"))
    versions.adopt_package()
    return Drafts(versions)


@pytest.fixture
async def client(drafts):
    console = KnowledgeConsole(drafts, HeaderGate())
    app = Starlette(routes=[Mount("/admin", routes=console.routes())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        yield http


def _as(role: str) -> dict[str, str]:
    return {"X-Test-Staff": f"{role}-1:{role}"}


class FormFields(HTMLParser):
    """The values a browser would post for a page's form: inputs, ticked boxes, selected options, text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict = {}
        self._area: str | None = None
        self._select = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "textarea":
            self._area = a["name"]
            self.values[self._area] = [""]
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value", ""))
        elif tag == "input" and a.get("name") and (a.get("type") != "checkbox" or "checked" in a):
            self.values.setdefault(a["name"], []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))

    def handle_data(self, data):
        if self._area:
            self.values[self._area][0] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._area = None


async def _form(client, path: str, role: str) -> dict:
    parser = FormFields()
    parser.feed((await client.get(path, headers=_as(role))).text)
    return parser.values


async def test_nobody_signed_in_is_sent_to_sign_in_and_analysts_get_403(client):
    for path in ("/admin/kb", CENTRE, "/admin/publish", "/admin/audit", "/admin/versions", "/admin/preview"):
        assert (await client.get(path)).status_code == 303
        assert (await client.get(path, headers=_as("analyst"))).status_code == 403


async def test_a_close_date_before_the_open_date_is_shown_beside_the_field(client):
    form = await _form(client, "/admin/kb/call/0", "editor")
    form |= {"opens": ["2025-05-01"], "closes": ["2025-04-01"]}
    page = await client.post("/admin/kb/call/0", data=form, headers=_as("editor"))
    assert page.status_code == 422
    assert "la fecha de cierre (2025-04-01) es anterior a la de apertura (2025-05-01)" in page.text
    assert 'id="errors"' in page.text


async def test_an_editor_fills_an_address_a_publisher_publishes_and_rolls_back(client, drafts):
    form = await _form(client, CENTRE, "editor")
    form |= {"address": ["Atacama 1024, Copiapó"], "_note": ["dato de la oficina"]}
    saved = await client.post(CENTRE, data=form, headers=_as("editor"), follow_redirects=True)
    assert "Guardado en el borrador (address)" in saved.text
    preview = await client.post(
        "/admin/preview", data={"_csrf": "ok", "commune": "caldera", "sector": "turismo"}, headers=_as("editor")
    )
    assert "Atacama 1024, Copiapó" in preview.text and "El borrador cambia esta ruta." in preview.text
    summary = await client.get("/admin/publish", headers=_as("editor"))
    assert "perfiles de ejemplo" in summary.text and "Solo una persona con rol" in summary.text
    refused = await client.post("/admin/publish", data={"_csrf": "ok", "note": "x"}, headers=_as("editor"))
    assert refused.status_code == 403
    no_note = await client.post("/admin/publish", data={"_csrf": "ok", "note": " "}, headers=_as("publisher"))
    assert no_note.status_code == 422
    done = await client.post(
        "/admin/publish", data={"_csrf": "ok", "note": "dirección"}, headers=_as("publisher"), follow_redirects=True
    )
    assert "(en uso)" in done.text and drafts.open_draft() is None
    serving = drafts.versions.serving()
    assert "Atacama 1024" in drafts.versions.files(serving.version_id)["offices.yml"].decode()
    first = drafts.versions.publications()[-1].version_id
    await client.post(
        "/admin/versions", data={"_csrf": "ok", "version": first, "note": "atrás"}, headers=_as("publisher")
    )
    assert drafts.versions.serving().version_id == first
    audit = (await client.get("/admin/audit", headers=_as("editor"))).text
    assert "edición" in audit and "publicación" in audit and "vuelta atrás" in audit and "Atacama 1024" in audit


async def test_a_post_without_the_csrf_token_changes_nothing(client, drafts):
    form = await _form(client, CENTRE, "editor")
    form |= {"address": ["Forjada 1"], "_csrf": ["forged"]}
    assert (await client.post(CENTRE, data=form, headers=_as("editor"))).status_code == 403
    assert drafts.open_draft() is None and drafts.audit() == []


async def test_the_dashboard_lists_offices_without_contact_data(client):
    page = await client.get("/admin/kb", headers=_as("editor"))
    assert "Oficinas sin datos de contacto" in page.text and "sercotec_centro_negocios_copiapo" in page.text
