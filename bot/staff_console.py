"""The staff console as an ASGI app: sign-in, signed session cookies, CSRF on every form, and the pages.

Served by `ruta serve` under `/admin` when `RUTA_ADMIN_SECRET` is set, or alone by `ruta admin serve`.
- Pages: the knowledge base's (bot/kb_console.py, roles editor and publisher) and "Atender con código" (`/atender`,
  roles advisor, editor and publisher): a person's hand-off code -> their answers, diagnosis and route
  (bot/advisor.py). Analysts see neither: they work with anonymous figures only (reports and exports).
- Sessions: Starlette's SessionMiddleware (a cookie signed with itsdangerous; HttpOnly, SameSite=Lax, Secure
  when `RUTA_ADMIN_HTTPS_ONLY`), holding the account name and a random CSRF token; the role is read from the
  database on every request, so a changed role applies at once. Sessions last `RUTA_ADMIN_SESSION_HOURS`.
- CSRF: every form carries the session's token in a hidden `_csrf` field (`csrf_field`); a POST without it, or
  with another, gets 403 and changes nothing. The sign-in form is protected the same way.
- Lockout: `RUTA_ADMIN_MAX_FAILURES` wrong passwords in a row lock the account `RUTA_ADMIN_LOCKOUT_MINUTES`.
- Logs: sign-ins and failures by event only, never a password; the account name is a staff member's, not an
  entrepreneur's, and is logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.advisor import AdvisorDesk, Attended, render_attended, render_malformed
from bot.handoffs import MalformedCode
from bot.kb_console import EDITORS, KnowledgeConsole, StaffMember, console_templates
from bot.kb_drafts import Drafts
from bot.kb_live import LiveKnowledge
from bot.kb_versions import KnowledgeVersions
from bot.settings import Settings
from bot.staff_accounts import StaffAccount, StaffAccounts
from bot.storage import Store

__all__ = ["ADVISORS", "SessionGate", "StaffConsole", "create_console_app"]

logger = logging.getLogger(__name__)
COOKIE = "ruta_staff"
ADVISORS = ("advisor", "editor", "publisher")  # who may attend a person with their code (not analysts)
CODE_MAX = 64  # characters of a typed code read (and shown back)


class SessionGate:
    """The StaffGate of the knowledge-base pages, over the signed session cookie."""

    def __init__(self, accounts: StaffAccounts) -> None:
        self.accounts = accounts

    def staff(self, request: Request) -> StaffAccount | None:
        name = request.session.get("staff")
        return self.accounts.account(name) if isinstance(name, str) else None

    def csrf_token(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def csrf_field(self, request: Request) -> Markup:
        return Markup('<input type="hidden" name="_csrf" value="{}">').format(escape(self.csrf_token(request)))

    async def csrf_ok(self, request: Request) -> bool:
        expected = request.session.get("csrf")
        given = (await request.form()).get("_csrf")
        return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


class SignIn:
    """GET/POST /login, POST /logout, and / (where the signed-in person can go)."""

    def __init__(self, gate: SessionGate, prefix: str) -> None:
        self.gate = gate
        self.prefix = prefix

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.home),
        ]

    def _page(self, request: Request, status: int = 200, **context: Any) -> Response:
        template = console_templates().get_template("kb_console/login.html.j2")
        body = template.render(prefix=self.prefix, csrf=self.gate.csrf_field(request), **context)
        return HTMLResponse(body, status_code=status)

    async def login(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next", ""), self.prefix)
        if request.method == "GET":
            return self._page(request, error="", target=target)
        if not await self.gate.csrf_ok(request):
            return self._page(request, status=403, error="El formulario venció. Inténtalo otra vez.", target=target)
        form = await request.form()
        account = self.gate.accounts.sign_in(str(form.get("username", "")), str(form.get("password", "")))
        if account is None:
            logger.warning("staff sign-in refused", extra={"event": "staff_sign_in_refused"})
            error = "Nombre o contraseña incorrectos, o la cuenta está bloqueada por un rato."
            return self._page(request, status=401, error=error, target=target)
        request.session.clear()  # a new session (and CSRF token) at each sign-in
        request.session["staff"] = account.name
        logger.info("staff signed in", extra={"event": "staff_signed_in", "reason": account.role})
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        if await self.gate.csrf_ok(request):
            request.session.clear()
        return RedirectResponse(f"{self.prefix}/login", status_code=303)

    async def home(self, request: Request) -> Response:
        staff = self.gate.staff(request)
        if staff is None:
            return RedirectResponse(f"{self.prefix}/login", status_code=303)
        if staff.role in EDITORS:
            return RedirectResponse(f"{self.prefix}/kb", status_code=303)
        if staff.role in ADVISORS:
            return RedirectResponse(f"{self.prefix}/atender", status_code=303)
        return self._page(request, staff=staff, error="", target="", analyst=True)


@dataclass
class StaffConsole(KnowledgeConsole):
    """The knowledge-base pages and "Atender con código": staff type the code a person shows them and see the
    person's answers, diagnosis and route (`desk`), never who the person is; codes last `code_days` days."""

    desk: AdvisorDesk = field(kw_only=True)
    code_days: int = field(default=14, kw_only=True)

    def routes(self) -> list[Route]:
        return [*super().routes(), Route("/atender", self._page(self.attend, ADVISORS), methods=["GET", "POST"])]

    def _render(self, request: Request, staff: StaffMember, name: str, status: int = 200, **context: Any) -> Response:
        roles = {"can_edit": staff.role in EDITORS, "can_attend": staff.role in ADVISORS}
        return super()._render(request, staff, name, status, **roles, **context)

    async def attend(self, request: Request, staff: StaffMember) -> Response:
        """GET: the form. POST: the code typed -> the summary, or why there is none. The code travels in the form's
        body only: never in a URL or a log line."""
        if request.method == "GET":
            return self._attend_page(request, staff, "")
        typed = str((await request.form()).get("code", ""))[:CODE_MAX]
        try:
            attended = self.desk.attend(typed)
        except MalformedCode as exc:
            _log_lookup(staff, "malformed")
            refusal = Markup(render_malformed(exc.given, "html"))
            return self._attend_page(request, staff, typed, refusal=refusal, status=422)
        return self._attended(request, staff, typed, attended)

    def _attended(self, request: Request, staff: StaffMember, typed: str, attended: Attended) -> Response:
        shown = Markup(render_attended(attended, "html"))
        problem = attended.lookup.problem
        _log_lookup(staff, problem or "found")
        if problem is None:
            return self._attend_page(request, staff, typed, summary=shown)
        return self._attend_page(request, staff, typed, refusal=shown, status=410 if problem == "expired" else 404)

    def _attend_page(
        self, request: Request, staff: StaffMember, typed: str, status: int = 200, **shown: Any
    ) -> Response:
        context = {"typed": typed, "summary": "", "refusal": "", "roles": ADVISORS, "days": self.code_days} | shown
        return self._render(request, staff, "attend.html.j2", status, **context)


def _log_lookup(staff: StaffMember, outcome: str) -> None:
    logger.info("hand-off code looked up", extra={"event": "advisor_lookup", "reason": outcome, "kind": staff.role})


def _safe_next(target: str, prefix: str) -> str:
    """Only a path inside the console: never another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(prefix + "/"):
        return f"{prefix}/"
    return target


def create_console_app(
    settings: Settings, store: Store, prefix: str = "/admin", today: Callable[[], date] = date.today
) -> Starlette:
    """The console at `prefix` (mount it there): sign-in, the knowledge-base pages and "Atender con código" over
    `store`."""
    if not settings.admin_secret:
        raise ValueError("RUTA_ADMIN_SECRET is needed to sign the console's session cookies")
    accounts = StaffAccounts(store, settings.admin_max_failures, timedelta(minutes=settings.admin_lockout_minutes))
    gate = SessionGate(accounts)
    versions = KnowledgeVersions(store)
    versions.adopt_package()
    live = cache(lambda: LiveKnowledge(versions, settings.kb_refresh_seconds))  # loaded at the first code looked up
    desk = AdvisorDesk.configured(store, lambda: live().current(), settings)
    console = StaffConsole(Drafts(versions), gate, prefix, today, desk=desk, code_days=settings.handoff_code_days)
    session = Middleware(
        SessionMiddleware,
        secret_key=settings.admin_secret,
        session_cookie=COOKIE,
        max_age=int(settings.admin_session_hours * 3600),
        same_site="lax",
        https_only=settings.admin_https_only,
    )
    return Starlette(routes=[*SignIn(gate, prefix).routes(), *console.routes()], middleware=[session])
