"""`ruta admin create-user|reset-password|serve`: staff accounts and the console on its own port.

Exit codes: 2 for bad input (a role that does not exist, a name taken, a short password), naming the problem.
A password is typed twice at a hidden prompt, or read from the first line of stdin with `--password-stdin`
(for scripts); it is never an argument (it would stay in the shell's history and the process list).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from bot.settings import get_settings
from bot.staff_accounts import ROLES, AccountError, StaffAccounts

__all__ = ["admin"]

BAD_INPUT = 2
PASSWORD_STDIN = click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")


def _accounts() -> StaffAccounts:
    from bot.engine import open_store  # the storage stack is imported only by the commands using it

    return StaffAccounts(open_store(get_settings()))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Contraseña", hide_input=True, confirmation_prompt="Repítela")
    return password


def _fail(exc: AccountError) -> NoReturn:
    click.echo(f"ruta: {exc}", err=True)
    sys.exit(BAD_INPUT)


@click.group()
def admin() -> None:
    """The staff console: accounts and serving it."""


@admin.command("create-user")
@click.argument("name")
@click.option("--role", required=True, help=f"One of: {', '.join(ROLES)}.")
@PASSWORD_STDIN
def create_user(name: str, role: str, password_stdin: bool) -> None:
    """Create the staff account NAME with a ROLE and a password (at least 12 characters)."""
    try:
        _accounts().create(name, role, _password(password_stdin))
    except AccountError as exc:
        _fail(exc)
    click.echo(f"created {name} ({role})")


@admin.command("reset-password")
@click.argument("name")
@PASSWORD_STDIN
def reset_password(name: str, password_stdin: bool) -> None:
    """Give the account NAME a new password (and lift a lockout)."""
    try:
        _accounts().reset_password(name, _password(password_stdin))
    except AccountError as exc:
        _fail(exc)
    click.echo(f"new password for {name}")


@admin.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
def serve_console(host: str, port: int) -> None:
    """Serve only the staff console, under /admin (needs RUTA_ADMIN_SECRET)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from bot.engine import open_store
    from bot.logs import configure_logging
    from bot.staff_console import create_console_app

    settings = get_settings()
    if not settings.admin_secret:
        click.echo("ruta: RUTA_ADMIN_SECRET is needed to sign the console's session cookies", err=True)
        sys.exit(BAD_INPUT)
    configure_logging()
    app = Starlette(routes=[Mount("/admin", app=create_console_app(settings, open_store(settings)))])
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
