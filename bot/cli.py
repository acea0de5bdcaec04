"""The `ruta` command line: diagnose profiles and validate the knowledge base.

Exit codes: 0 success; 1 an invalid knowledge base; 2 bad input (the message names the field).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from bot.admin_cli import admin
from bot.advisor_cli import advisor
from bot.kb_cli import KB_COMMANDS
from bot.profile_input import InputError, read_documents
from bot.render import render_diagnosis
from bot.settings import PseudonymKeyError, get_settings
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


def _engine(build: Callable[..., Any], settings: Any, *args: Any) -> Any:
    """The engine of a chat command, or exit 2 naming a pseudonym key that cannot be used (never a weaker one)."""
    try:
        return build(settings, *args)
    except PseudonymKeyError as exc:
        _fail(str(exc), BAD_INPUT)


def _knowledge_base() -> KnowledgeBase:
    try:
        return load_knowledge_base()
    except KnowledgeBaseError as exc:
        _fail(f"the knowledge base is invalid (run `ruta kb validate`):\n{exc}", INVALID_KB)


def _profiles(stream: IO[str], kb: KnowledgeBase) -> list[Profile]:
    """Every profile of the input; on the first bad one, exit 2 naming where and which field."""
    try:
        documents = read_documents(stream.read(), get_settings().max_json_depth)
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
    type=click.Choice(["json", "text", "html", "whatsapp"]),
    default="json",
    show_default=True,
    help="json: one Diagnosis per line; text/html/whatsapp: the message the entrepreneur would read.",
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
            out.write((render_diagnosis(diagnosis, kb, fmt) + "\n").encode())  # type: ignore[arg-type]
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


for _command in KB_COMMANDS:
    kb.add_command(_command)
main.add_command(admin)
main.add_command(advisor)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Line protocol: one JSON array of replies per input line.")
@click.option("--script", type=click.File("r", encoding="utf-8"), default=None, help="Read messages from FILE.")
@click.option("--user", default="console", show_default=True, help="Who is talking (state persists per user).")
@click.option("--today", type=IsoDate(), default=None, help="Day to compute deadlines against (default: today).")
@click.option("--verbose", is_flag=True, help="Logs on stderr instead of RUTA_HOME/logs/chat.log.")
def chat(as_json: bool, script: IO[str] | None, user: str, today: date | None, verbose: bool) -> None:
    """Talk to the assistant in the console (the main job), or drive it line by line with --json.

    The screen shows only the conversation: logs (JSON lines) go to RUTA_HOME/logs/chat.log, or with --verbose
    to stderr. A document sent (the route as a PDF) is saved in RUTA_HOME/documentos and its path shown (in --json,
    as the reply's "document")."""
    from bot.console import run_interactive, run_json  # the chat stack is imported only by the commands using it
    from bot.engine import build_engine
    from bot.logs import configure_logging

    settings = get_settings()
    configure_logging(path=None if verbose else settings.chat_log_path)
    engine = _engine(build_engine, settings)
    if as_json or script is not None:
        run_json(engine, script or sys.stdin, user, today, settings.documents_dir)
    else:
        run_interactive(engine, user, today, settings.documents_dir)


@main.group()
def nlu() -> None:
    """Natural-language understanding tools."""


BACKEND_OPTION = click.option(
    "--backend", type=click.Choice(["embedded", "rasa"]), default=None, help="Default: RUTA_NLU_BACKEND."
)


def _backend(name: str | None) -> Any:
    return get_settings().nlu(name)  # type: ignore[arg-type]


@nlu.command()
@click.argument("text")
@BACKEND_OPTION
def parse(text: str, backend: str | None) -> None:
    """Parse TEXT (or one text per stdin line with `-`) into the shape of Rasa's /model/parse."""
    parser = _backend(backend)
    texts = (line.rstrip("\r\n") for line in iter(sys.stdin.readline, "")) if text == "-" else iter([text])
    for item in texts:
        sys.stdout.write(orjson.dumps(parser.parse(item)).decode() + "\n")
        sys.stdout.flush()


@nlu.command("eval")
@click.argument("test_file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@BACKEND_OPTION
@click.option("--errors", "show_errors", is_flag=True, help="Also list the misparsed examples.")
def eval_command(test_file: Path, backend: str | None, show_errors: bool) -> None:
    """Intent accuracy, macro-F1 and entity precision/recall/F1 on an annotated Rasa YAML file."""
    from nlu.evaluation import evaluate
    from nlu.training_data import load_training_data

    parser = _backend(backend)
    synonyms = load_training_data([get_settings().nlu_data_path]).synonyms
    report = evaluate(parser, load_training_data([test_file]), synonyms)
    click.echo(orjson.dumps({"backend": parser.name, **report.to_dict()}).decode())
    if show_errors:
        for error in report.errors:
            click.echo(orjson.dumps(error).decode())


@main.command()
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
def telegram(log_level: str) -> None:
    """Run the Telegram bot with long polling (RUTA_TELEGRAM_TOKEN; RUTA_TELEGRAM_BASE_URL for a local Bot API)."""
    from bot.channels.telegram import CHANNEL, build_application, poll_until_stopped
    from bot.channels.turns import ChannelEngine
    from bot.engine import build_engine
    from bot.logs import configure_logging

    settings = get_settings()
    if not settings.telegram_token:
        _fail("RUTA_TELEGRAM_TOKEN is not set (get one from @BotFather)", BAD_INPUT)
    configure_logging(log_level.upper())
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    channel = ChannelEngine.configured(_engine(build_engine, settings, "html"), CHANNEL, settings)
    bot = build_application(channel, settings.telegram_token, settings.telegram_base_url)
    gc.freeze()  # the knowledge base, NLU and templates live until exit: keep them out of every collection
    try:
        asyncio.run(poll_until_stopped(bot, settings.outbox_flush_seconds))
    finally:
        channel.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes on the one port (above 1: PostgreSQL only).",
)
def serve(host: str, port: int, log_level: str, workers: int) -> None:
    """Serve the webhooks: /telegram, /whatsapp and /healthz (channels enabled by their RUTA_* settings)."""
    import uvicorn

    from bot.engine import build_engine
    from bot.logs import configure_logging
    from bot.serve import SERVER_OPTIONS, ConfigError, GracefulServer, create_app, prepare_workers, run_workers

    settings = get_settings()
    configure_logging(log_level.upper())
    try:
        if workers > 1:
            _engine(prepare_workers, settings)
            sys.exit(run_workers(host, port, workers, log_level.upper()))
        app = create_app(settings, _engine(build_engine, settings))
    except ConfigError as exc:
        _fail(str(exc), BAD_INPUT)
    GracefulServer(uvicorn.Config(app, host=host, port=port, **SERVER_OPTIONS)).run()


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--since", type=IsoDate(), default=None, help="Only diagnoses made on or after this day.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (csv: default stdout)."
)
def export_command(fmt: str, since: date | None, out: Path | None) -> None:
    """Anonymised diagnoses (age bands, no pseudonyms), small cells generalised or withheld."""
    from bot.analytics.export import export_rows, write_csv, write_parquet
    from bot.engine import open_store

    if fmt == "parquet" and out is None:
        _fail("--out: a Parquet export needs a file", BAD_INPUT)
    result = export_rows(open_store(get_settings()), _knowledge_base(), since)
    if fmt == "parquet":
        write_parquet(result.rows, out)  # type: ignore[arg-type]
    elif out is None:
        write_csv(result.rows, sys.stdout)
    else:
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_csv(result.rows, handle)
    click.echo(
        f"exported {len(result.rows)} diagnoses ({result.generalised} generalised to their province, "
        f"{result.withheld} withheld as small cells)",
        err=True,
    )


@main.command()
@click.option("--months", type=click.IntRange(min=1), default=None, help="Default: RUTA_RETENTION_MONTHS.")
def purge(months: int | None) -> None:
    """Delete diagnoses and conversations older than the retention period."""
    from datetime import UTC, datetime

    from bot.storage import Store

    settings = get_settings()
    if months is not None:
        settings = settings.model_copy(update={"retention_months": months})
    cutoff = settings.retention_cutoff(datetime.now(UTC))
    if cutoff is None:
        click.echo("retention is off (RUTA_RETENTION_MONTHS=0): nothing deleted")
        return
    conversations, diagnoses = Store(settings.resolved_database_url).purge(cutoff)
    click.echo(f"deleted {diagnoses} diagnoses and {conversations} conversations older than {cutoff.date()}")


@main.command()
@click.argument("kind", type=click.Choice(["gender", "matrix", "map", "progress", "all"]), metavar="KIND")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="FILE.html or FILE.pdf; for all, a DIR.")
@click.option("--since", type=IsoDate(), default=None, help="First day of the period (default: the first data).")
@click.option("--until", type=IsoDate(), default=None, help="Last day of the period (default: the last data).")
def report(kind: str, out: Path, since: date | None, until: date | None) -> None:
    """A report of the regional plan (KIND: gender, matrix, map, progress) as print-ready HTML, or PDF when FILE
    ends in .pdf; `all` writes the four PDFs into the directory DIR, reading the data once."""
    from bot.analytics.reports import REPORTS, load_input, write_report
    from bot.engine import open_store

    if since and until and since > until:
        _fail("--since: the period starts after it ends (--until)", BAD_INPUT)
    if kind != "all" and out.suffix.lower() not in {".html", ".pdf"}:
        _fail(f"--out: {out.name} should end in .html or .pdf", BAD_INPUT)
    if kind == "all" and out.exists() and not out.is_dir():
        _fail(f"--out: {out} is a file; `all` writes into a directory", BAD_INPUT)
    data = load_input(open_store(get_settings()), _knowledge_base(), kind, since, until)
    targets = {name: out / f"{name}.pdf" for name in REPORTS} if kind == "all" else {kind: out}
    if kind == "all":
        out.mkdir(parents=True, exist_ok=True)
    for name, path in targets.items():
        write_report(name, path, data)
        click.echo(f"{name} report: {path}" + (f" ({len(data.rows)} diagnoses)" if data.with_data else ""), err=True)
