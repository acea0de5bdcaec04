"""`ruta advisor show CODE [--json]`: what staff see for the hand-off code a person shows them (bot/advisor.py).

Exit codes: 0 the summary (plain text, or one JSON object with --json); 1 a code that does not exist or expired
(the message says which, and the day it expired); 2 text that cannot be a code (the message names CODE), or a
database that is missing or cannot be read. Messages are in Spanish, for staff; never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
import orjson
from sqlalchemy.engine import make_url

from bot.handoffs import MalformedCode, parse_code
from bot.settings import Settings, get_settings

__all__ = ["advisor"]

REFUSED = 1
BAD_INPUT = 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ruta: {message.strip()}", err=True)
    sys.exit(code)


def _database(settings: Settings) -> str:
    """The database URL; exit 2 if it is a SQLite file that does not exist (looking a code up creates nothing)."""
    url = settings.resolved_database_url
    parsed = make_url(url)
    file = parsed.database if parsed.get_backend_name() == "sqlite" and parsed.database != ":memory:" else None
    if file and not Path(file).is_file():
        _fail(f"no hay base de datos en {file} (revisa RUTA_HOME o RUTA_DATABASE_URL)", BAD_INPUT)
    return url


@click.group()
def advisor() -> None:
    """Attend a person who shows a hand-off code (RUTA-7K3Q)."""


@advisor.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the text.")
def show(code: str, as_json: bool) -> None:
    """The answers, diagnosis and route behind CODE, as staff see them (never who the person is)."""
    from bot.advisor import AdvisorDesk, render_attended, render_malformed, serving_knowledge
    from bot.storage import Store

    try:
        parse_code(code)
    except MalformedCode as exc:
        _fail("CODE: " + render_malformed(exc.given, "text"), BAD_INPUT)
    settings = get_settings()
    url = _database(settings)
    try:  # any database problem (unreadable file, server down, a schema newer than this program) is one line
        store = Store(url)
        attended = AdvisorDesk.configured(store, lambda: serving_knowledge(store), settings).attend(code)
    except Exception as exc:
        where = make_url(url).render_as_string(hide_password=True)
        _fail(f"no se pudo leer la base de datos {where} ({type(exc).__name__})", BAD_INPUT)
    if attended.summary is None:
        _fail(render_attended(attended, "text"), REFUSED)
    if as_json:
        click.echo(orjson.dumps(attended.to_dict()).decode())
    else:
        click.echo(render_attended(attended, "text"), nl=False)
