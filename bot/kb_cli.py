"""`ruta kb import|export|versions|rollback`: the knowledge base's versions in the database, from the shell.

The YAML files and git stay a first-class way to work: export a version, edit the files, validate and import
them as a new published version. Exit codes as everywhere: 1 an invalid knowledge base (one line per problem,
`file: path.to.field: message`), 2 bad input (a version that does not exist).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import NoReturn

import click

from bot.kb_versions import InvalidKnowledge, KnowledgeVersions, Publication, export_files
from bot.settings import get_settings
from knowledge.loader import read_directory

__all__ = ["KB_COMMANDS"]

INVALID_KB = 1
BAD_INPUT = 2
AUTHOR = click.option("--author", default=None, help="Who makes the change (default: the system user).")
NOTE = click.option("--note", required=True, help="Why: kept with the version and shown in its history.")


def _versions() -> KnowledgeVersions:
    from bot.engine import open_store  # the storage stack is imported only by the commands using it

    versions = KnowledgeVersions(open_store(get_settings()))
    versions.adopt_package()
    return versions


def _invalid(exc: InvalidKnowledge) -> NoReturn:
    for problem in exc.problems:
        click.echo(str(problem))
    sys.exit(INVALID_KB)


def _said(publication: Publication) -> str:
    return (
        f"serving version {publication.version_id} ({publication.digest}), {publication.action} by {publication.author}"
    )


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@NOTE
@AUTHOR
def import_command(directory: Path, note: str, author: str | None) -> None:
    """Validate the data files under DIRECTORY and publish them as a new version (running bots follow)."""
    try:
        publication = _versions().publish_files(read_directory(directory), author or getpass.getuser(), note)
    except InvalidKnowledge as exc:
        _invalid(exc)
    click.echo(_said(publication))


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version_id", type=int, default=None, help="Which version (default: the serving one).")
def export_command(directory: Path, version_id: int | None) -> None:
    """Write a version's data files under DIRECTORY, in the knowledge base's layout."""
    versions = _versions()
    serving = versions.serving()
    chosen = version_id if version_id is not None else serving.version_id if serving else None
    try:
        files = versions.files(chosen if chosen is not None else -1)
    except KeyError:
        click.echo(f"ruta: --version: no version {chosen}", err=True)
        sys.exit(BAD_INPUT)
    export_files(files, directory)
    click.echo(f"wrote {len(files)} files of version {chosen} to {directory}")


@click.command("versions")
def versions_command() -> None:
    """The publication history, newest first: when, which version, who, why."""
    for publication in _versions().publications():
        when = publication.published_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(
            f"{when}  v{publication.version_id} {publication.digest}  {publication.action:8}  "
            f"{publication.author}: {publication.note}"
        )


@click.command("rollback")
@click.argument("version_id", type=int)
@NOTE
@AUTHOR
def rollback_command(version_id: int, note: str, author: str | None) -> None:
    """Serve an earlier VERSION_ID again (see `ruta kb versions`)."""
    versions = _versions()
    try:
        publication = versions.rollback(version_id, author or getpass.getuser(), note)
    except KeyError:
        click.echo(f"ruta: VERSION_ID: no version {version_id}", err=True)
        sys.exit(BAD_INPUT)
    except InvalidKnowledge as exc:
        _invalid(exc)
    click.echo(_said(publication))


KB_COMMANDS = [import_command, export_command, versions_command, rollback_command]
