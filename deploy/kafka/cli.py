"""``schakel kafka up|status|down``: the local broker for tests, the demo and development."""

from __future__ import annotations

import typer
from rich.console import Console

from schakel.deploy.kafka.broker import BrokerError, LocalBroker
from schakel.settings import settings

__all__ = ["app"]

app = typer.Typer(
    help="The local single-node Apache Kafka broker (KRaft, loopback only), fetched from Maven Central.",
    no_args_is_help=True,
)
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def _broker() -> LocalBroker:
    return LocalBroker(settings())


@app.command()
def up(timeout: float = typer.Option(90.0, help="Seconds to wait for the broker to answer.")) -> None:
    """Fetch the broker once, format its storage once, start it and wait until it answers."""
    try:
        said = _broker().up(timeout=timeout)
    except BrokerError as error:
        _err.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from error
    _out.print(said, highlight=False)


@app.command()
def status() -> None:
    """Say whether a broker answers at the bootstrap address, whether schakel started it, and where it looked."""
    broker = _broker()
    state = broker.status()
    looked = f"pid file looked for in {broker.pid_file.parent}"
    if state.answering:
        who = f"started by schakel, pid {state.pid}" if state.managed else "not started by schakel"
        _out.print(f"Kafka answers at {state.bootstrap} ({who}; {looked})", highlight=False)
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
        raise typer.Exit(1)
