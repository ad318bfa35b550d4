"""``schakel lineage ...``: feed the store, check it, and answer auditors and citizens."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated
from uuid import UUID

import typer
from rich.console import Console

from schakel.lineage.api import create_app, parse_since
from schakel.lineage.ingest import DEFAULT_GROUP_ID, ingest
from schakel.lineage.pseudonym import subject_pseudonyms
from schakel.lineage.record import LineageError
from schakel.lineage.report import render_subject_report_html
from schakel.lineage.scan import scan_for_personal_data
from schakel.lineage.store import LineageStore, open_store
from schakel.settings import settings

__all__ = ["app"]

app = typer.Typer(
    help="Lineage: the tamper-evident record of every decision and delivery, and the answers compliance needs.",
    no_args_is_help=True,
)
_out = Console(highlight=False, markup=False)  # field lists print as [a, b], not as markup
_err = Console(stderr=True, highlight=False)


def _store() -> LineageStore:
    config = settings()
    try:
        return open_store(config.lineage_url, config.data_dir)
    except LineageError as error:
        _err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        _err.print(f"written to {out}")


@app.command("ingest")
def ingest_command(
    follow: bool = typer.Option(False, "--follow", help="Keep running; without it, stop once caught up."),
    group_id: str = typer.Option(DEFAULT_GROUP_ID, "--group", help="Kafka consumer group."),
) -> None:
    """Read the lineage topic into the store (offsets committed after each store commit)."""
    config = settings()
    with _store() as store:
        try:
            result = ingest(
                store,
                topic=config.topic("lineage"),
                kafka_config=config.kafka_client_config(),
                group_id=group_id,
                follow=follow,
            )
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except LineageError as error:
            _err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from error
        _out.print(
            f"{result.messages} messages: {result.appended} stored, {result.duplicates} already stored, "
            f"{result.rejected} rejected; the store holds {store.count()} records"
        )


@app.command()
def verify() -> None:
    """Recompute every hash chain; name the first broken record (exit 1 when one is broken)."""
    with _store() as store:
        result = store.verify()
        heads = store.heads()
    if result.ok:
        _out.print(f"intact: {result.checked} records in {result.chains} chains")
        # Keep these somewhere the store's administrators cannot write: they anchor the chains, so that even a
        # rewrite of a whole chain's tail (hashes recomputed) shows up against them.
        for chain, head in heads.items():
            _out.print(f"  head {chain}: {head.next_seq} records, last hash {head.hash}")
        return
    _out.print(f"BROKEN: first broken record: {result.first_broken}", style="red", soft_wrap=True)
    for broken in result.broken[1:]:
        _out.print(f"also broken: {broken}")
    raise typer.Exit(1)


@app.command()
def trace(
    event_id: str = typer.Argument(..., help="The event's id (UUID)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every hop of one event: decisions and receipts, times, fields sent and withheld, trace ids."""
    try:
        uuid = UUID(event_id)
    except ValueError:
        _err.print("[red]error:[/red] the event id is not a UUID")
        raise typer.Exit(2) from None
    with _store() as store:
        report = store.trace(uuid)
    if as_json:
        _out.print_json(report.model_dump_json())
    elif not report.found:
        _out.print(f"no lineage for event {uuid}")
    else:
        traces = ", ".join(report.trace_ids) or "-"
        if report.sender is not None:
            _out.print(f"event {uuid}: {report.event_type} from {report.sender}; trace {traces}")
        else:  # an event is its source and its id: several senders chose this id, each hop names its own
            _out.print(f"event id {uuid}, used by {len(report.senders)} senders; trace {traces}")
        for hop in report.hops:
            sender = "" if report.sender is not None else f"{hop.sender}/{hop.event_type} "
            _out.print(
                f"  {hop.start_time:%Y-%m-%d %H:%M:%S.%f} .. {hop.end_time:%H:%M:%S.%f}  {sender}{hop.kind.value:8} "
                f"-> {hop.recipient:20} {hop.outcome or '-':13} sent [{', '.join(hop.fields_sent)}] "
                f"withheld [{', '.join(hop.fields_withheld)}] {hop.policy or ''} {hop.rule or ''} "
                f"reasons [{', '.join(hop.reasons)}] span {hop.span_id or '-'}"
            )
    if not report.found:
        raise typer.Exit(3)


@app.command()
def subject(
    bsn: str = typer.Option(..., "--bsn", help="The citizen's BSN; '-' reads it from standard input (not argv)."),
    output_format: str = typer.Option("json", "--format", help="json or html."),
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
) -> None:
    """The AVG art. 15 report for one person, for all partners at once (the BSN is pseudonymised first)."""
    if output_format not in {"json", "html"}:
        _err.print("[red]error:[/red] --format is json or html")
        raise typer.Exit(2)
    if bsn == "-":
        bsn = sys.stdin.readline()
    try:
        pseudonyms = subject_pseudonyms(bsn)
    except LineageError as error:
        _err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    with _store() as store:
        report = store.subject_report(pseudonyms)
    if output_format == "html":
        _write(render_subject_report_html(report), out)
    else:
        _write(report.model_dump_json(indent=2) + "\n", out)


@app.command()
def disclosures(
    to: str = typer.Option(..., "--to", help="The recipient's organisation code."),
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD (midnight UTC) or an ISO-8601 time."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The disclosure register: what one partner was given."""
    try:
        start = parse_since(since)
    except ValueError:
        _err.print("[red]error:[/red] --since is not a date (YYYY-MM-DD) or ISO-8601 time")
        raise typer.Exit(2) from None
    with _store() as store:
        register = store.disclosures(to, start)
    if as_json:
        _out.print_json(register.model_dump_json())
        return
    period = f" since {start:%Y-%m-%d %H:%M %Z}" if start else ""
    _out.print(f"{len(register.disclosures)} disclosures to {to}{period}")
    for d in register.disclosures:
        _out.print(
            f"  {d.decided_at:%Y-%m-%d %H:%M:%S} {d.event_type:24} from {d.sender:20} {d.outcome or '-':8} "
            f"[{', '.join(d.fields_sent)}] {d.purpose} {', '.join(d.legal_basis)} {d.policy or ''} {d.delivery}"
        )


@app.command()
def export(
    out: Annotated[Path | None, typer.Option("--out", help="File to write; default standard output.")] = None,
) -> None:
    """Every record in the Logboek Dataverwerkingen shape, one JSON object per line."""
    with ExitStack() as stack:
        store = stack.enter_context(_store())
        target: IO[str] = sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8"))
        written = store.export_logboek(target)
    _err.print(f"exported {written} records")


@app.command()
def scan(
    names_file: Annotated[
        Path | None, typer.Option("--names", help="A file with one name per line to look for.")
    ] = None,
) -> None:
    """Scan the store for personal data (BSN-like numbers, listed names, free text); exit 1 on any finding."""
    names = names_file.read_text(encoding="utf-8").splitlines() if names_file else []
    with _store() as store:
        findings = scan_for_personal_data(store, names)
    for finding in findings:
        _out.print(f"{finding.kind}: record {finding.record_id}, column {finding.column}")
    _out.print(json.dumps({"findings": len(findings)}))
    if findings:
        raise typer.Exit(1)


@app.command()
def serve(
    port: int = typer.Option(8470, "--port", help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
) -> None:
    """Serve the answers over HTTP for the console."""
    from aiohttp import web

    with _store() as store:
        web.run_app(create_app(store), host=host, port=port, print=_err.print)
