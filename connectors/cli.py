"""``schakel connectors list|new|run|resend``: what is installed, a new connector package, running one, resending."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import typer
from rich.console import Console

from schakel.connectors.errors import ConnectorError
from schakel.connectors.presence import announce, withdraw
from schakel.connectors.registry import config_dir, config_file, installed, load
from schakel.output import print_rows
from schakel.settings import SettingsError, settings

__all__ = ["app"]

# The connectors' runtime (aiokafka, aiohttp, OpenTelemetry) loads inside the commands that run it, so that
# `schakel --help` and `schakel connectors --help` stay quick.

app = typer.Typer(
    help="Connectors: the partner systems' way in and out of the hub (entry-point group schakel.connectors).",
    no_args_is_help=True,
)
_out = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def _fail(error: Exception) -> typer.Exit:
    _err.print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(1)


@app.command("list")
def list_connectors(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per connector (JSON lines)."),
) -> None:
    """Show the installed connectors, and whether each has a config file."""
    rows: list[dict[str, object]] = []
    found = installed()
    for entry in found:
        try:
            connector = load(entry.name)
            organisation, what = connector.organisation, connector.description
        except ConnectorError as error:
            organisation, what = "?", f"broken: {error}"
        path = config_file(settings(), entry.name)
        rows.append(
            {
                "name": entry.name,
                "organisation": organisation,
                "what": what,
                "package": entry.distribution or "?",
                "configured": str(path) if path else None,
            }
        )
    print_rows(("name", "organisation", "what", "package", "configured"), rows, as_json=as_json)
    if not as_json:
        _err.print(f"{len(found)} installed; config files are read from {config_dir(settings())}", highlight=False)


@app.command()
def new(
    name: str = typer.Argument(..., help="Connector name, e.g. 'veilig-thuis' (lowercase, hyphens)."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create the package folder."),
    organisation: str = typer.Option("", help="Organisation code it serves (default: the name)."),
) -> None:
    """Scaffold a connector package (source, sink, config, simulated partner, contract tests)."""
    from schakel.connectors.scaffold import scaffold

    try:
        root = scaffold(name, directory, organisation=organisation or name)
    except ConnectorError as error:
        raise _fail(error) from error
    _out.print(f"created {root}", highlight=False)
    _out.print(f"next: pip install -e {root} && pytest {root / 'tests'}", highlight=False)


@app.command()
def run(
    name: str = typer.Argument(..., help="The connector (see `schakel connectors list`), or `all`."),
    config: Path | None = typer.Option(None, "--config", help="Config file (YAML/JSON); default: the config dir."),
    simulate: bool = typer.Option(False, "--simulate", help="Run against the connector's simulated partner system."),
    state_dir: Path | None = typer.Option(None, help="Where simulated partner systems keep their state."),
    source: bool = typer.Option(True, "--source/--no-source", help="Run the source (partner -> hub)."),
    sink: bool = typer.Option(True, "--sink/--no-sink", help="Run the sink (hub -> partner)."),
    metrics_port: int | None = typer.Option(
        None, help="Serve /healthz and /metrics on this port at SCHAKEL_METRICS_HOST (default: a free port)."
    ),
    session_timeout_ms: int = typer.Option(10_000, help="Kafka consumer session timeout of the sink."),
) -> None:
    """Run a connector (or all of them) until SIGTERM or Ctrl-C."""
    the_settings = settings()
    try:
        the_settings.refuse_development_key()
    except SettingsError as error:
        raise _fail(error) from error
    from schakel.connectors.running import RunningConnector, start_connector

    with contextlib.suppress(ImportError):
        from schakel.streams.telemetry import configure_tracing

        configure_tracing(f"schakel-connector-{name}")
    simulate_root = (state_dir or the_settings.data_dir / "simulation") if simulate else None

    names = [entry.name for entry in installed()] if name == "all" else [name]
    if config is not None and len(names) > 1:
        raise _fail(ConnectorError("--config names one connector's file; `all` reads each one's from the config dir"))

    async def main() -> None:
        started: list[RunningConnector] = []
        announced: list[Path] = []
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        try:
            for each in names:
                running = await start_connector(
                    each,
                    settings=the_settings,
                    config_path=config,
                    simulate=simulate_root,
                    source=source,
                    sink=sink,
                    # Always serve /healthz (on a free port unless one is given): `schakel status` asks it.
                    metrics_port=metrics_port if len(names) == 1 and metrics_port is not None else 0,
                    session_timeout_ms=session_timeout_ms,
                )
                started.append(running)
                await running.wait_ready(timeout=60)
                if running.metrics_port is not None:
                    announced.append(announce(the_settings, each, running.connector.organisation, running.metrics_port))
                where = f" (health and metrics on port {running.metrics_port})" if running.metrics_port else ""
                _out.print(f"connector {each} running{where}", highlight=False)
            waiter = asyncio.create_task(stopped.wait())
            runners = [asyncio.create_task(running.run_until_stopped()) for running in started]
            done, _ = await asyncio.wait({waiter, *runners}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, *runners):
                if task not in done:
                    task.cancel()
            for task in runners:
                if task in done:
                    task.result()
        finally:
            for path in announced:
                withdraw(path)
            for running in started:
                await running.stop()

    try:
        asyncio.run(main())
    except ConnectorError as error:
        raise _fail(error) from error
    _out.print(f"connector {name} stopped", highlight=False)


@app.command()
def resend(
    to: str = typer.Option(..., "--to", help="The recipient organisation whose dead-lettered copies to resend."),
    event_id: str | None = typer.Option(None, help="Only this event."),
) -> None:
    """Put a recipient's dead-lettered copies back on its egress topic (its sink drops what was delivered since)."""
    from schakel.connectors.deadletter import resend as resend_copies

    try:
        report = asyncio.run(resend_copies(settings(), to, event_id=event_id))
    except ConnectorError as error:  # not every dead letter was read: say so, and fail
        raise _fail(error) from error
    _out.print(f"resent {len(report.resent)} of {report.scanned} dead letters to {to}", highlight=False)
