"""The `ruta` command line: diagnose profiles and validate the knowledge base.

Exit codes: 0 success; 1 an invalid knowledge base; 2 bad input (the message names the field).
"""

from __future__ import annotations

import gc
import sys
from datetime import date
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from bot.profile_input import InputError, read_documents
from bot.render import render_diagnosis
from knowledge import (
    KnowledgeBase,
    KnowledgeBaseError,
    Profile,
    ProfileError,
    diagnose,
    load_knowledge_base,
    parse_profile,
    validate_knowledge_base,
)
from knowledge.loader import DEFAULT_DATA_DIR

__all__ = ["main"]

BAD_INPUT = 2
INVALID_KB = 1


class IsoDate(click.ParamType[date]):
    """A YYYY-MM-DD date."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ruta: {message}", err=True)
    sys.exit(code)


def _knowledge_base() -> KnowledgeBase:
    try:
        return load_knowledge_base()
    except KnowledgeBaseError as exc:
        _fail(f"the knowledge base is invalid (run `ruta kb validate`):\n{exc}", INVALID_KB)


def _profiles(stream: IO[str], kb: KnowledgeBase) -> list[Profile]:
    """Every profile of the input; on the first bad one, exit 2 naming where and which field."""
    try:
        documents = read_documents(stream.read())
    except (InputError, UnicodeDecodeError) as exc:
        _fail(str(exc), BAD_INPUT)
    profiles = []
    problems = []
    for document in documents:
        try:
            profiles.append(parse_profile(document.data, kb))
        except ProfileError as exc:
            problems += [f"{document.where}: {field}: {message}" for field, message in exc.problems]
    if problems:
        _fail("invalid profile\n" + "\n".join(problems), BAD_INPUT)
    return profiles


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Ruta Emprende Atacama: diagnosis and support route for micro and small businesses."""


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), metavar="FILE|-")
@click.option("--today", type=IsoDate(), default=None, help="Day to compute deadlines against (default: today).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "text", "html"]),
    default="json",
    show_default=True,
    help="json: one Diagnosis per line; text/html: the message the entrepreneur would read.",
)
def diagnose_command(source: IO[str], today: date | None, fmt: str) -> None:
    """Diagnose each profile (a JSON object, a JSON array or JSON lines) and print its diagnosis."""
    kb = _knowledge_base()
    day = today or date.today()
    profiles = _profiles(source, kb)
    gc.freeze()  # the knowledge base and the input live until exit: keep them out of every collection
    out = sys.stdout.buffer
    for profile in profiles:
        diagnosis = diagnose(profile, kb, day)
        if fmt == "json":
            out.write(orjson.dumps(diagnosis.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        else:
            out.write((render_diagnosis(diagnosis, kb, "html" if fmt == "html" else "text") + "\n").encode())
    out.flush()


diagnose_command.name = "diagnose"


@main.group()
def kb() -> None:
    """Knowledge-base tools for agency staff."""


@kb.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATA_DIR)
def validate(directory: Path) -> None:
    """Check every data file under DIRECTORY (default: the built-in knowledge base)."""
    base, problems = validate_knowledge_base(directory)
    if base is None:
        for problem in problems:
            click.echo(str(problem))
        sys.exit(INVALID_KB)
    click.echo(
        f"ok: {len(base.instruments)} instruments, {len(base.offices)} offices, {len(base.communes)} communes, "
        f"{sum(map(len, base.calls.values()))} calls (version {base.version})"
    )
