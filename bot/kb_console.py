"""The staff console's knowledge-base pages (Starlette + Jinja2): what needs attention, edit an item in its
generated form, preview a profile with the draft and the published base, publish with a note, versions and
rollback, the audit log. Signing in, roles and CSRF come from the console's security layer (`StaffGate`).

- editor: sees everything here, edits the draft; publisher: also publishes, rolls back and discards the draft;
  analyst: none of these pages (reports and exports only).
- Every save runs the validation of `ruta kb validate`; errors are shown beside their field, in Spanish.
- The audit log is only written by saves, publications and rollbacks: no page edits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import takewhile
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.kb_drafts import Drafts
from bot.kb_forms import field_errors, form_fields, read_form
from bot.kb_items import KINDS, Item, item_data, items
from bot.kb_preview import change_summary, compare
from bot.render import render_diagnosis
from knowledge import KnowledgeBase, Profile, ProfileError, diagnose, parse_profile
from knowledge.attention import needs_attention
from knowledge.loader import validate_files

__all__ = ["EDITORS", "PUBLISHERS", "KnowledgeConsole", "StaffGate", "StaffMember"]

EDITORS = ("editor", "publisher")
PUBLISHERS = ("publisher",)


class StaffMember(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


class StaffGate(Protocol):
    """What the pages need of the security layer: who is signed in, and the form's CSRF token."""

    def staff(self, request: Request) -> StaffMember | None: ...

    def csrf_field(self, request: Request) -> Markup: ...

    async def csrf_ok(self, request: Request) -> bool: ...


Page = Callable[[Request, StaffMember], Awaitable[Response]]


@cache
def console_templates() -> Environment:
    return Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=select_autoescape(["j2", "html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class KnowledgeConsole:
    """The pages, over the draft and versions of one database; `today` is the console's calendar day."""

    drafts: Drafts
    gate: StaffGate
    prefix: str = "/admin"
    today: Callable[[], date] = date.today

    def routes(self) -> list[Route]:
        page = self._page
        return [
            Route("/kb", page(self.dashboard, EDITORS)),
            Route("/kb/{kind}", page(self.kind_list, EDITORS)),
            Route("/kb/{kind}/{key}", page(self.edit, EDITORS), methods=["GET", "POST"]),
            Route("/preview", page(self.preview, EDITORS), methods=["GET", "POST"]),
            Route("/publish", page(self.publish, EDITORS), methods=["GET", "POST"]),
            Route("/versions", page(self.versions, EDITORS), methods=["GET", "POST"]),
            Route("/audit", page(self.audit, EDITORS)),
        ]

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _page(self, handler: Page, roles: tuple[str, ...]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            staff = self.gate.staff(request)
            if staff is None:
                return RedirectResponse(f"{self.prefix}/login?next={request.url.path}", status_code=303)
            if staff.role not in roles:
                return self._render(request, staff, "forbidden.html.j2", status=403)
            if request.method == "POST" and not await self.gate.csrf_ok(request):
                return self._render(request, staff, "forbidden.html.j2", status=403, csrf_failed=True)
            return await handler(request, staff)

        return endpoint

    def _render(self, request: Request, staff: StaffMember, name: str, status: int = 200, **context: Any) -> Response:
        template = console_templates().get_template(f"kb_console/{name}")
        body = template.render(
            staff=staff,
            prefix=self.prefix,
            csrf=self.gate.csrf_field(request),
            kinds=KINDS,
            can_publish=staff.role in PUBLISHERS,
            draft=self.drafts.open_draft(),
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def _knowledge(self) -> tuple[KnowledgeBase, KnowledgeBase]:
        """(published, draft) knowledge bases."""
        serving = self.drafts.versions.serving()
        assert serving is not None
        published = validate_files(self.drafts.versions.files(serving.version_id))[0]
        draft = validate_files(self.drafts.files())[0]
        assert published is not None and draft is not None  # both were validated when written
        return published, draft

    # -- pages -----------------------------------------------------------------------------------------------------

    async def dashboard(self, request: Request, staff: StaffMember) -> Response:
        draft_kb = self._knowledge()[1]
        attention = needs_attention(draft_kb, self.today())
        counts = {name: len(items(self.drafts.files(), kind)) for name, kind in KINDS.items()}
        return self._render(request, staff, "dashboard.html.j2", attention=attention, counts=counts)

    async def kind_list(self, request: Request, staff: StaffMember) -> Response:
        kind = KINDS.get(request.path_params["kind"])
        if kind is None:
            return self._render(request, staff, "not_found.html.j2", status=404)
        return self._render(request, staff, "kind.html.j2", kind=kind, items=items(self.drafts.files(), kind))

    async def edit(self, request: Request, staff: StaffMember) -> Response:
        found = self._item(request)
        if found is None:
            return self._render(request, staff, "not_found.html.j2", status=404)
        kind, item = KINDS[found.kind], found
        before = item_data(self.drafts.files(), item)
        if request.method == "GET":
            saved = request.query_params.get("guardado", "")
            fields = form_fields(kind.model, before)
            context: dict[str, Any] = {"kind": kind, "item": item, "fields": fields, "saved": saved, "apart": []}
            return self._render(request, staff, "edit.html.j2", **context)
        return await self._save(request, staff, item, before)

    async def _save(self, request: Request, staff: StaffMember, item: Item, before: dict[str, Any]) -> Response:
        kind = KINDS[item.kind]
        form = await request.form()
        data, unreadable = read_form(kind.model, form, before)
        apart: list[str] = []
        if not unreadable:
            saved = self.drafts.save_item(item, data, staff.name, str(form.get("_note", "")))
            if not saved.problems:
                changed = ",".join(saved.changed) or "nada"
                url = f"{self.prefix}/kb/{item.kind}/{item.key}?guardado={changed}"
                return RedirectResponse(url, status_code=303)
            unreadable, apart = field_errors(saved.problems, item.file, _label(item, before))
        shown = {**before, **data, **{key: form.get(key) for key in unreadable}}
        fields = form_fields(kind.model, shown, unreadable)
        context = {"kind": kind, "item": item, "fields": fields, "apart": apart, "saved": ""}
        return self._render(request, staff, "edit.html.j2", status=422, **context)

    def _item(self, request: Request) -> Item | None:
        kind = KINDS.get(request.path_params["kind"])
        if kind is None:
            return None
        key = request.path_params["key"]
        return next((item for item in items(self.drafts.files(), kind) if item.key == key), None)

    async def preview(self, request: Request, staff: StaffMember) -> Response:
        published, draft = self._knowledge()
        values = dict(await request.form()) if request.method == "POST" else {}
        context: dict[str, Any] = {"values": values, "communes": draft.communes, "sectors": draft.sectors}
        if values:
            try:
                profile = parse_profile(_profile_data(values), draft)
            except ProfileError as exc:
                context["problems"] = exc.problems
            else:
                context["routes"] = self._side_by_side(profile, published, draft)
        return self._render(request, staff, "preview.html.j2", **context)

    def _side_by_side(self, profile: Profile, published: KnowledgeBase, draft: KnowledgeBase) -> dict[str, Any]:
        day = self.today()
        return {
            "published": Markup(render_diagnosis(diagnose(profile, published, day), published, "html")),
            "draft": Markup(render_diagnosis(diagnose(profile, draft, day), draft, "html")),
            "changed": compare(profile, published, draft, day).changed,
        }

    async def publish(self, request: Request, staff: StaffMember) -> Response:
        if request.method == "POST":
            return await self._publish(request, staff)
        published, draft = self._knowledge()
        summary = change_summary(published, draft, self.today()) if self.drafts.open_draft() else None
        edits = list(takewhile(lambda row: row.action == "edit", self.drafts.audit()))  # since the last publication
        return self._render(request, staff, "publish.html.j2", summary=summary, edits=edits, error="")

    async def _publish(self, request: Request, staff: StaffMember) -> Response:
        if staff.role not in PUBLISHERS:
            return self._render(request, staff, "forbidden.html.j2", status=403)
        form = await request.form()
        note = str(form.get("note", "")).strip()
        if form.get("action") == "discard":
            self.drafts.discard(staff.name, note or "borrador descartado")
            return RedirectResponse(f"{self.prefix}/kb", status_code=303)
        if not note or self.drafts.open_draft() is None:
            error = "Escribe una nota: qué cambia y por qué." if not note else "No hay cambios por publicar."
            context: dict[str, Any] = {"summary": None, "edits": [], "error": error}
            return self._render(request, staff, "publish.html.j2", status=422, **context)
        self.drafts.publish(staff.name, note)
        return RedirectResponse(f"{self.prefix}/versions?publicado=1", status_code=303)

    async def versions(self, request: Request, staff: StaffMember) -> Response:
        if request.method == "POST":
            if staff.role not in PUBLISHERS:
                return self._render(request, staff, "forbidden.html.j2", status=403)
            form = await request.form()
            note = str(form.get("note", "")).strip() or "vuelta a una versión anterior"
            self.drafts.rollback(int(str(form.get("version", "0"))), staff.name, note)
            return RedirectResponse(f"{self.prefix}/versions", status_code=303)
        publications = self.drafts.versions.publications()
        return self._render(request, staff, "versions.html.j2", publications=publications)

    async def audit(self, request: Request, staff: StaffMember) -> Response:
        return self._render(request, staff, "audit.html.j2", rows=self.drafts.audit())


def _label(item: Item, data: dict[str, Any]) -> str:
    """How validation problems name the item: its id, its position in a list, or its key; after the key of the list
    that holds it, if any (`lessons.validar_idea`)."""
    under, own = KINDS[item.kind].under, str(data.get("id", item.key))
    return f"{under}.{own}" if under else own


PROFILE_NUMBERS = ("months_operating", "workers", "monthly_sales_clp", "age", "rsh_percentile")
PROFILE_FLAGS = ("operating", "formal", "keeps_records")


def _profile_data(values: dict[str, Any]) -> dict[str, Any]:
    """A profile from the preview form: empty means unknown; numbers and yes/no read from their text."""
    data: dict[str, Any] = {}
    for key, raw in values.items():
        text = str(raw).strip()
        if key.startswith("_") or not text:
            continue
        if key in PROFILE_NUMBERS:
            data[key] = int(text) if text.lstrip("-").isdigit() else text
        elif key in PROFILE_FLAGS:
            data[key] = {"si": True, "no": False}.get(text, text)
        else:
            data[key] = text
    return data
