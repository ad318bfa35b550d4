"""``schakel console [--port]`` serves the console; ``schakel console users add|passwd|remove`` edits its accounts."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from schakel.errors import SchakelError
from schakel.schemas import Organisation
from schakel.settings import settings

__all__ = ["app"]

app = typer.Typer(help="The web console: inbox, case board and compliance pages.", invoke_without_command=True)
users = typer.Typer(help="The console's accounts (an accounts file with argon2id hashes).", no_args_is_help=True)
app.add_typer(users, name="users")
_err = Console(stderr=True)


def _fail(error: SchakelError) -> typer.Exit:
    _err.print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(1)


@app.callback()
def serve(
    ctx: typer.Context,
    port: int = typer.Option(8480, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (put TLS in front of anything but loopback)."),
) -> None:
    """Serve the console (until Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        return
    from aiohttp import web

    from schakel.console.server import build_state, session_key
    from schakel.console.web import create_app

    config = settings()
    try:
        config.refuse_development_key()  # the art. 15 form pseudonymises a BSN with it
        state = build_state(config)
    except SchakelError as error:
        raise _fail(error) from error
    listening: list[str] = []

    def listens(_: str) -> None:  # aiohttp's "Running on": every site is bound
        listening.append(host)
        typer.echo(f"schakel console on http://{host}:{port}")

    try:
        web.run_app(create_app(state, session_key(config)), host=host, port=port, print=listens)
    except OSError as error:
        if listening:
            raise
        # the port taken, the address not this machine's: one line, not a traceback
        _err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {error.strerror}", highlight=False)
        raise typer.Exit(1) from None


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


@users.command("add")
def add(
    username: str = typer.Argument(...),
    org: Organisation = typer.Option(..., "--org", help="The organisation the account belongs to."),
    role: list[str] = typer.Option(..., "--role", help="case-manager, process-director, compliance or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Add an account."""
    from schakel.console.access import Role
    from schakel.console.server import accounts_file

    try:
        roles = [Role(r) for r in role]
    except ValueError:
        _err.print(f"[red]error:[/red] roles are {', '.join(r.value for r in Role)}")
        raise typer.Exit(1) from None
    try:
        accounts_file(settings()).add(username, org, roles, _password(password_stdin))
    except SchakelError as error:
        raise _fail(error) from error
    typer.echo(f"added {username} ({org}: {', '.join(roles)})")


@users.command("passwd")
def passwd(
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Set an account's password."""
    from schakel.console.server import accounts_file

    try:
        accounts_file(settings()).passwd(username, _password(password_stdin))
    except SchakelError as error:
        raise _fail(error) from error
    typer.echo(f"password of {username} changed")


@users.command("remove")
def remove(username: str = typer.Argument(...)) -> None:
    """Remove an account (its sessions end at their next request)."""
    from schakel.console.server import accounts_file

    try:
        accounts_file(settings()).remove(username)
    except SchakelError as error:
        raise _fail(error) from error
    typer.echo(f"removed {username}")
