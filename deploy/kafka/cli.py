"""``schakel kafka up|status|down|users|acls``: the local broker for tests, the demo and development, and the
operator's view of a broker's users and ACLs (as ``admin``)."""

from __future__ import annotations

import contextlib
import errno
import re
import secrets
from pathlib import Path

import typer
from rich.console import Console

from schakel.deploy.kafka.broker import BrokerError, LocalBroker
from schakel.errors import SchakelError
from schakel.settings import settings

__all__ = ["app"]

app = typer.Typer(
    help="The local Apache Kafka broker (KRaft, loopback only; one node or three), fetched from Maven Central.",
    no_args_is_help=True,
)
users_app = typer.Typer(help="SCRAM-SHA-512 users on the broker (as admin).", no_args_is_help=True)
acls_app = typer.Typer(help="The ACLs the topic layout grants (as admin).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(acls_app, name="acls")
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def _broker(insecure: bool = False, nodes: int | None = None) -> LocalBroker:
    return LocalBroker(settings(), insecure=insecure, nodes=nodes)


def _fail(error: SchakelError) -> typer.Exit:
    _err.print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(1)


_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_BROKER_USER = "broker"
"""The broker's own SCRAM identity (a super user): ``schakel kafka up`` keeps its password in ``broker/``, beside
the broker's configuration, never in the clients' credentials directory."""


def _user_name(name: str) -> str:
    """``name`` when it may name a user of ``users add|remove``; else the command fails. The name becomes a file in
    the credentials directory: a ``/`` or ``..`` would put a password elsewhere. The broker's own identity is not an
    operator's to set or remove: a password set here would not be the one its configuration holds, and the broker
    would fail to authenticate to itself at its next start."""
    if not _USER_NAME.fullmatch(name):
        raise _fail(
            SchakelError(
                f"{name!r} is not a user name: letters, digits, '.', '_' and '-', starting with a letter or digit"
            )
        )
    if name == _BROKER_USER:
        raise _fail(SchakelError("'broker' is the broker's own identity, managed by `schakel kafka up`"))
    return name


@app.command()
def up(
    timeout: float = typer.Option(90.0, help="Seconds to wait for the broker to answer."),
    insecure: bool = typer.Option(False, "--insecure", help="PLAINTEXT, no authentication, no ACLs."),
    nodes: int | None = typer.Option(
        None,
        "--nodes",
        help="1, or 3: a KRaft cluster (node i on ports PORT+2(i-1) and +1); default: the layout that runs, else 1.",
    ),
) -> None:
    """Fetch the broker once, format its storage once, start it (secured unless --insecure) and wait until it
    answers. With --nodes 3, nodes of a running cluster that are down are started again."""
    try:
        broker = _broker(insecure, nodes)
        said = broker.up(timeout=timeout)
    except BrokerError as error:
        raise _fail(error) from error
    _out.print(said, highlight=False)
    if broker.clustered:
        _out.print(f"clients that survive any one node's loss: SCHAKEL_KAFKA_BOOTSTRAP={broker.bootstrap}")


@app.command()
def status() -> None:
    """Say whether a broker answers at the bootstrap address, whether schakel started it, and where it looked."""
    broker = _broker()
    state = broker.status()
    looked = f"pid file looked for in {broker.pid_file.parent}"
    if broker.clustered:
        for node in state.nodes:
            answers = "answers" if node.answering else "does not answer"
            started = f"pid {node.pid}" if node.pid is not None else "not running"
            _out.print(f"node {node.node_id}  {node.address}  {answers}  ({started})", highlight=False)
        looked = f"pid files looked for in {broker.pid_file.parent.parent}"
    if state.answering:
        running = sum(node.pid is not None for node in state.nodes)
        pids = f"{running} of {len(state.nodes)} nodes running" if broker.clustered else f"pid {state.pid}"
        who = f"started by schakel, {pids}" if state.managed else "not started by schakel"
        _out.print(
            f"Kafka answers at {state.bootstrap} ({who}, {broker.recorded_protocol()}; {looked})", highlight=False
        )
        return
    extra = " (stale pid file)" if state.stale_pid_file else ""
    _out.print(f"Kafka does not answer at {state.bootstrap}{extra}; {looked}", highlight=False)
    raise typer.Exit(3)


@app.command()
def down(timeout: float = typer.Option(30.0, help="Seconds to wait for a clean stop before killing.")) -> None:
    """Stop the broker schakel started (a clean shutdown; killed only after the grace period)."""
    broker = _broker()
    said = broker.down(timeout=timeout)
    _out.print(said, highlight=False)
    if said.startswith("Kafka was not running") and broker.status().answering:
        _err.print(
            f"but a broker answers at {broker.bootstrap}: it was not started with the data directory "
            f"{settings().data_dir} (no pid file in {broker.pid_file.parent}); stop it from where it was started, "
            "or set SCHAKEL_DATA_DIR to that directory",
            highlight=False,
        )


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="The principal, e.g. a partner's organisation code."),
    password_file: typer.FileText | None = typer.Option(
        None, "--password-file", help="Read the password from this file (- for stdin); default: a random one."
    ),
) -> None:
    """Set a user's password (a new user or a rotation). A random password is written, mode 0600, to the
    credentials directory, never printed.

    The file and the broker never disagree without a word: the new password is written beside the file first (so
    a directory that cannot take it fails before the broker changes), and moved into place only once the broker
    accepted it. A failure says whether the broker changed; a rerun sets a new password and writes it, which
    repairs any half-done add."""
    from schakel.streams.access import NotInForceError, UnconfirmedChangeError, add_user, users_lock

    name = _user_name(name)
    config = settings()
    with contextlib.ExitStack() as held:
        if password_file is not None:
            password = password_file.read().strip()
            if not password:
                raise _fail(SchakelError("the password file is empty"))
            stored = staged = None
            again = f"run `schakel kafka users add {name} --password-file ...` again with the same password"
        else:
            password = secrets.token_urlsafe(32)
            stored = config.kafka_credentials_path / name
            staged = stored.with_name(f".{name}.new")  # a user name starts with a letter or digit: no user's file
            again = f"run `schakel kafka users add {name}` again: it sets a new password and writes it to {stored}"
            try:
                held.enter_context(users_lock(config))  # a `kafka up` ensuring this user waits, and then finds it
                if stored.exists() and not stored.is_file():
                    raise IsADirectoryError(errno.EISDIR, "not a regular file", str(stored))
                _write_private(staged, password)
            except (OSError, SchakelError) as error:
                reason = error.strerror if isinstance(error, OSError) else str(error)
                raise _fail(
                    SchakelError(
                        f"cannot write the password file {stored} ({reason}); nothing was changed on the broker"
                    )
                ) from error
        try:
            add_user(config, name, password)
        except NotInForceError as error:  # the broker has it, or will in a moment: the file must hold it
            _place(staged, stored, name, again)
            kept = f"; {stored} holds the new password" if stored is not None else ""
            raise _fail(SchakelError(f"{error}{kept}. If clients are still refused in a minute, {again}")) from error
        except UnconfirmedChangeError as error:
            _discard(staged)
            unchanged = f"; {stored} was not changed" if stored is not None else ""
            raise _fail(
                SchakelError(f"{error}{unchanged}. To be sure which password the broker has, {again}")
            ) from error
        except SchakelError as error:
            _discard(staged)
            unchanged = f"; {stored} still holds the password the broker has, if any" if stored is not None else ""
            raise _fail(SchakelError(f"{error}. Nothing was changed on the broker{unchanged}")) from error
        _place(staged, stored, name, again)
    if stored is not None:
        _out.print(f"user {name} set; its password is in {stored}", highlight=False)
    else:
        _out.print(f"user {name} set", highlight=False)


def _write_private(path: Path, password: str) -> None:
    from schakel.deploy.kafka.tls import write_private

    write_private(path, password.encode())


def _discard(staged: Path | None) -> None:
    if staged is not None:
        staged.unlink(missing_ok=True)


def _place(staged: Path | None, stored: Path | None, name: str, again: str) -> None:
    """Move the staged password file into place (one rename: a reader sees the old file or the new, whole)."""
    if staged is None or stored is None:
        return
    try:
        staged.replace(stored)
    except OSError as error:
        raise _fail(
            SchakelError(
                f"the broker has the new password of {name}, but {stored} could not be replaced ({error.strerror}); "
                f"the new password is in {staged}: move it there, or {again}"
            )
        ) from error


@users_app.command("list")
def users_list() -> None:
    """The users with SCRAM credentials on the broker (names only)."""
    from schakel.streams.access import list_users

    try:
        names = list_users(settings())
    except SchakelError as error:
        raise _fail(error) from error
    for name in names:
        _out.print(name, highlight=False)


@users_app.command("remove")
def users_remove(name: str = typer.Argument(...)) -> None:
    """Remove a user's SCRAM credentials (its ACLs stay until the layout drops them)."""
    from schakel.streams.access import remove_user

    name = _user_name(name)
    try:
        removed = remove_user(settings(), name)
    except SchakelError as error:
        raise _fail(error) from error
    _out.print(f"user {name} removed" if removed else f"user {name} had no credentials", highlight=False)


@acls_app.command("apply")
def acls_apply() -> None:
    """Add the ACLs the topic layout grants under SCHAKEL_TOPIC_PREFIX that the broker lacks (idempotent)."""
    from schakel.streams.access import apply_grants

    try:
        report = apply_grants(settings())
    except SchakelError as error:
        raise _fail(error) from error
    for grant in report.added:
        _out.print(f"added  {grant}", highlight=False)
    _out.print(f"{len(report.added)} ACLs added, {len(report.present)} already present", highlight=False)
    for grant in report.extra:
        _out.print(f"[yellow]extra[/yellow]  {grant} (not in the layout; not removed)", highlight=False)


@acls_app.command("show")
def acls_show() -> None:
    """The ACLs the topic layout grants under SCHAKEL_TOPIC_PREFIX, and whether the broker has them; exit 1 when
    one is missing."""
    from schakel.streams.access import show_grants

    try:
        report = show_grants(settings())
    except SchakelError as error:
        raise _fail(error) from error
    for grant in report.present:
        _out.print(f"ok       {grant}", highlight=False)
    for grant in report.missing:
        _out.print(f"[red]missing[/red]  {grant}", highlight=False)
    for grant in report.extra:
        _out.print(f"[yellow]extra[/yellow]    {grant}", highlight=False)
    if report.missing:
        raise typer.Exit(1)
