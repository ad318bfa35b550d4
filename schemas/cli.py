"""``schakel schemas``: the catalogue with versions and fingerprints, the full schemas, the evolution check, and
event validation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from schakel.output import print_rows
from schakel.schemas._catalogue import EventType, catalogue, field_sensitivities, released_versions
from schakel.schemas._errors import EventInvalid
from schakel.schemas._evolution import check_catalogue, release
from schakel.schemas._models import parse_event

__all__ = ["app"]

app = typer.Typer(
    name="schemas",
    help="The event catalogue: list it, check its evolution, validate events.",
    no_args_is_help=True,
    add_completion=False,
)

ReleasedDir = Annotated[
    Path | None,
    typer.Option("--released", help="Folder of released schemas to compare with (default: the package's)."),
]


@app.command("list")
def list_schemas(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the catalogue: each event type with its version, fingerprint and governed fields."""
    versions = catalogue()
    rows = [
        {
            "type": event_type.value,
            "name": version.name,
            "version": version.version,
            "released": version.released,
            "fingerprint": version.fingerprint.hex(),
            "fields": {name: label.value for name, label in field_sensitivities(event_type).items()},
        }
        for event_type, version in versions.items()
    ]
    if as_json:
        print_rows((), rows, as_json=True)
        return
    table = [
        {
            "type": event_type.value,
            "version": f"v{version.version}" + ("" if version.released else "*"),
            "fingerprint (CRC-64-AVRO, LE)": version.fingerprint.hex(),
            "sensitive fields": [
                f"{name}:{label.value}" for name, label in field_sensitivities(event_type).items() if label != "plain"
            ],
        }
        for event_type, version in versions.items()
    ]
    print_rows(("type", "version", "fingerprint (CRC-64-AVRO, LE)", "sensitive fields"), table)
    if not all(version.released for version in versions.values()):
        typer.echo(
            "* changed since the last release; `schakel schemas check`, then `schakel schemas release`", err=True
        )


@app.command("show")
def show(
    event_type: Annotated[str, typer.Argument(help="An event type, e.g. Signal.")],
    version: Annotated[int | None, typer.Option(help="A released version (default: the current schema).")] = None,
) -> None:
    """Print one type's full Avro schema (JSON), e.g. to register it by hand or to hand it to a partner."""
    if event_type not in {t.value for t in EventType}:
        typer.echo(f"unknown event type {event_type!r}: one of {', '.join(t.value for t in EventType)}", err=True)
        raise typer.Exit(2)
    chosen = EventType(event_type)
    if version is None:
        schema = dict(catalogue()[chosen].schema)
    else:
        found = [v for v in released_versions()[chosen] if v.version == version]
        if not found:
            typer.echo(f"{chosen.value} has no released version {version}", err=True)
            raise typer.Exit(2)
        schema = dict(found[0].schema)
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@app.command("check")
def check(released: ReleasedDir = None) -> None:
    """Compare every schema with its last released version; exit 1 on a backward or forward incompatibility."""
    failed = False
    for result in check_catalogue(released):
        typer.echo(f"{result.event_type.value}: {result.status}")
        for problem in result.incompatibilities:
            failed = True
            typer.echo(f"  {result.event_type.value}: {problem}")
    if failed:
        typer.echo("schema check failed: incompatible changes (see above)", err=True)
        raise typer.Exit(1)
    typer.echo("schema check passed")


@app.command("release")
def release_command(released: ReleasedDir = None) -> None:
    """Freeze each changed, compatible schema as its next released version."""
    written = release(released)
    if not written and any(not r.ok for r in check_catalogue(released)):
        typer.echo("nothing released: the check fails (run `schakel schemas check`)", err=True)
        raise typer.Exit(1)
    for path in written:
        typer.echo(f"released {path.name}")
    if not written:
        typer.echo("nothing to release: every schema equals its last released version")


@app.command("validate")
def validate(
    file: Annotated[
        str, typer.Argument(help="A JSON file with one event in JSON form, or a list of them; - reads stdin.")
    ],
) -> None:
    """Validate events in JSON form: print OK, or the reasons (field and rule, never values); exit 1 if any fail."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        loaded: Any = json.loads(text)
    except OSError as error:
        typer.echo(f"{file}: cannot read ({type(error).__name__})", err=True)
        raise typer.Exit(2) from None
    except (ValueError, RecursionError) as error:
        position = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        typer.echo(f"{file}: not valid JSON{position}", err=True)
        raise typer.Exit(1) from None
    events = loaded if isinstance(loaded, list) else [loaded]
    failures = 0
    for index, form in enumerate(events):
        label = f"{file}[{index}]" if isinstance(loaded, list) else file
        try:
            event = parse_event(form)
        except EventInvalid as invalid:
            failures += 1
            typer.echo(f"{label}: INVALID")
            for reason in invalid.reasons:
                typer.echo(f"  {reason}")
            continue
        typer.echo(f"{label}: OK {event.type.value} {event.id}")
    if failures:
        raise typer.Exit(1)
