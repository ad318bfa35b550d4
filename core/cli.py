"""The ``schakel`` command line: one entry point, one sub-command group per package.

The command modules import lazily: what a command needs beyond Typer and its option types (the Kafka clients,
Faust, aiohttp, reportlab, OpenTelemetry, the connectors' runtime) is imported inside the command function, so that
``schakel --help`` and the light commands do not wait for it (``tests/core/test_cli_startup.py``; the time:
``python -m tests.bench cli``, 3.07 s before, 1.54 s after). What remains is the packages the groups live in: their
``__init__`` modules import the whole package (pydantic models, about a second).
"""

from __future__ import annotations

import sys

import typer

from schakel.connectors.cli import app as connectors_app
from schakel.consent.cli import app as consent_app
from schakel.console.cli import app as console_app
from schakel.deploy.kafka.cli import app as kafka_app
from schakel.lineage.cli import app as lineage_app
from schakel.lineage.requests_cli import app as subject_app
from schakel.retention.cli import app as retention_app
from schakel.schemas.cli import app as schemas_app
from schakel.streams import cli as streams_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="schakel",
    help="schakel - the integration hub of the Zorg & Veiligheid network.\n\n"
    "Partners' events travel over Apache Kafka; before anything is delivered, the consent processor decides per "
    "recipient what it may see under its covenant, and lineage records why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(schemas_app, name="schemas")
app.add_typer(consent_app, name="consent")
app.add_typer(connectors_app, name="connectors")
app.add_typer(lineage_app, name="lineage")
app.add_typer(console_app, name="console")
app.add_typer(retention_app, name="retention")
app.add_typer(subject_app, name="subject")


@app.callback()
def _logging() -> None:
    """Every command logs through one handler: quiet about the Kafka clients' weather, JSON on request."""
    from pydantic import ValidationError

    from schakel.logs import configure_logging
    from schakel.settings import settings

    try:
        log_format = settings().log_format
    except ValidationError:  # the command that needs the settings says what is wrong with them
        log_format = "text"
    configure_logging(log_format=log_format)


for _command in (streams_cli.run, streams_cli.send, streams_cli.tail, streams_cli.dlq, streams_cli.topics):
    app.command()(_command)


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row (JSON lines)."),
) -> None:
    """One view of the hub: broker, workers and lag, dead letters, covenants, lineage store, connectors' health.

    Exit code 1 when something is wrong (the rows named "problem" say what, and how to put it right).
    """
    from schakel.health import problems, rows
    from schakel.output import print_rows
    from schakel.settings import settings
    from schakel.status import gather

    gathered = gather(settings())
    print_rows(("part", "item", "state", "detail"), rows(gathered), as_json=as_json)
    if problems(gathered):
        raise typer.Exit(1)


@app.command()
def demo(
    once: bool = typer.Option(False, "--once", help="Play the scenarios once, print a summary and exit."),
    console_port: int = typer.Option(8480, help="Serve the web console on this port (0: no console; --once: none)."),
) -> None:
    """Run the hub with every partner connector and a simulated system for each, and play the three themes."""
    from schakel.deploy.demo import main as play
    from schakel.settings import SettingsError, settings

    config = settings()
    try:  # the demo's hub worker and connectors would refuse one by one; say it once, before starting them
        config.refuse_development_key()
    except SettingsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    raise typer.Exit(play(config, once=once, console_port=console_port))


def _kafka_failure(error: BaseException) -> str | None:
    """One line for an error a Kafka client raised out of a command (the broker down or refusing), else None.

    The commands turn the failures they expect into their own messages; this is the net under all of them, so that a
    broker that does not answer ends any command with a line that says what to do, not a client's traceback. It
    names the error's class and the bootstrap address only: a client's message can hold a topic or a record's key.
    """
    clients = [sys.modules.get(name) for name in ("kafka.errors", "aiokafka.errors")]
    kinds = tuple(module.KafkaError for module in clients if module is not None)
    if not kinds or not isinstance(error, kinds):
        return None
    from pydantic import ValidationError

    from schakel.settings import settings

    try:
        bootstrap = settings().kafka_bootstrap
    except ValidationError:
        bootstrap = "the configured bootstrap address"
    return (
        f"the Kafka broker at {bootstrap} did not answer or refused ({type(error).__name__}): check that it runs "
        "(`schakel kafka status`) and that SCHAKEL_KAFKA_BOOTSTRAP names it"
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except Exception as error:
        message = _kafka_failure(error)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
