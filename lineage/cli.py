"""``schakel lineage ...``: feed the store, check it, and answer auditors and citizens."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, cast
from uuid import UUID

import typer
from rich.console import Console

from schakel.addresses import is_loopback
from schakel.consent import CovenantError
from schakel.lineage.ingest import DEFAULT_GROUP_ID, PRINCIPAL, ingest
from schakel.lineage.pseudonym import subject_pseudonyms
from schakel.lineage.readable import access_report, access_report_json
from schakel.lineage.record import LineageError
from schakel.lineage.report import render_access_report_html
from schakel.lineage.retention import cut_lineage_topic, prune_lineage
from schakel.lineage.scan import scan_for_personal_data
from schakel.lineage.store import LineageStore, open_store
from schakel.offsets import group_lag, positions
from schakel.output import Advance, is_terminal, print_rows, progress
from schakel.schemas import Organisation
from schakel.settings import KafkaIdentityError, settings
from schakel.streams.topics import HubTopics

if TYPE_CHECKING:
    from schakel.lineage.answers import TraceReport
    from schakel.lineage.readable import AccessReport

__all__ = ["app"]

# The Kafka client, aiohttp (``serve``) and reportlab (``subject --format pdf``) load inside the commands that use
# them, so that `schakel --help` and `schakel lineage --help` stay quick.

app = typer.Typer(
    help="Lineage: the tamper-evident record of every decision and delivery, and the answers compliance needs.",
    no_args_is_help=True,
)
_out = Console(highlight=False, markup=False, soft_wrap=True)  # field lists print as [a, b], not as markup
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def open_cli_store() -> LineageStore:
    """The configured lineage store, or a one-line error and exit 1 (shared by ``schakel lineage`` and
    ``schakel subject``)."""
    config = settings()
    try:
        return open_store(config.lineage_url, config.data_dir)
    except LineageError as error:
        _err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error


def uuid_argument(text: str, what: str) -> UUID:
    """A command's UUID argument, or a one-line usage error and exit 2."""
    try:
        return UUID(text)
    except ValueError:
        _err.print(f"[red]error:[/red] the {what} is not a UUID")
        raise typer.Exit(2) from None


_HOP_COLUMNS = (
    "time",
    "from",
    "kind",
    "recipient",
    "outcome",
    "fields_sent",
    "fields_withheld",
    "policy",
    "rule",
    "reasons",
    "span_id",
)
_DISCLOSURE_COLUMNS = (
    "decided_at",
    "event_type",
    "sender",
    "outcome",
    "fields_sent",
    "purpose",
    "legal_basis",
    "policy",
    "delivery",
    "event_id",
)


def _say_if_behind(store: LineageStore) -> None:
    """Say (on standard error) when the store is empty or behind the lineage topics, and how to fill it.

    The answers come from the store, which only ``schakel lineage ingest`` fills: without it, "no lineage" may only
    mean "not ingested yet". When no broker answers, only the empty store can be told.
    """
    config = settings()
    fill = "fill it with `schakel lineage ingest` (keep it current with `schakel lineage ingest --follow`)"
    if store.count() == 0:
        _err.print(f"note: the lineage store is empty; {fill}")
        return
    from kafka.errors import KafkaError

    host, _, port = config.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        lag = group_lag(config, DEFAULT_GROUP_ID, HubTopics.of(config).lineage_sources())
    except (OSError, ValueError, KafkaError):
        return
    behind = sum(value or 0 for value in lag.values())
    if behind or None in lag.values():
        how_far = f"{behind} records" if behind else "records"
        _err.print(f"note: the lineage store is {how_far} behind the lineage topics; {fill}")


def _backlog(group_id: str) -> int | None:
    """How many lineage records the ingest has not read yet (for its progress bar), or None if unknown."""
    from kafka.errors import KafkaError

    config = settings()
    try:
        lag = group_lag(config, group_id, HubTopics.of(config).lineage_sources())
        return sum(positions(config, topic)[0].held if value is None else value for topic, value in lag.items())
    except (OSError, KafkaError):
        return None


class _Counted:
    """Passes writes through to ``target`` and reports each written line to a progress bar."""

    def __init__(self, target: IO[str], advance: Advance) -> None:
        self.target, self.advance = target, advance

    def write(self, text: str) -> int:
        if lines := text.count("\n"):
            self.advance(lines)
        return self.target.write(text)


def cannot_write(out: Path, error: OSError) -> typer.Exit:
    """Say that ``out`` cannot be written (a missing folder, no permission, a full disk), and fail."""
    _err.print(f"[red]error:[/red] cannot write {out}: {error.strerror or type(error).__name__}", markup=True)
    return typer.Exit(1)


def _write(text: str | bytes, out: Path | None) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            out.write_bytes(data)
        except OSError as error:
            raise cannot_write(out, error) from None
        _err.print(f"written to {out}")


@app.command("ingest")
def ingest_command(
    follow: bool = typer.Option(False, "--follow", help="Keep running; without it, stop once caught up."),
    group_id: str = typer.Option(DEFAULT_GROUP_ID, "--group", help="Kafka consumer group."),
) -> None:
    """Read the lineage topic and the partners' receipts topics into the store (offsets committed after each store
    commit)."""
    config = settings()
    topics = HubTopics.of(config)
    backlog = _backlog(group_id)
    with open_cli_store() as store, progress("ingesting lineage", backlog) as advance:
        done = 0

        def batch(messages: int) -> None:
            # The bar shows the catching up; past the backlog (new records, --follow) it stays full and counts on.
            nonlocal done
            done += messages
            advance(messages, total=done if backlog is not None and done > backlog else None)

        try:
            result = ingest(
                store,
                topic=topics.lineage,
                receipts={topics.receipts(org): org.value for org in Organisation},
                kafka_config=config.kafka_client_config(PRINCIPAL),
                group_id=group_id,
                follow=follow,
                on_batch=batch,
            )
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (LineageError, KafkaIdentityError) as error:
            _err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from error
        _out.print(
            f"{result.messages} messages ({result.records} records): {result.appended} stored, "
            f"{result.duplicates} already stored, {result.rejected} messages rejected; "
            f"the store holds {store.count()} records"
        )
        for chain in result.segments:
            _out.print(f"a lineage topic was recreated (offsets went back): started chain segment {chain}")


@app.command()
def verify() -> None:
    """Recompute every hash chain; name the first broken record (exit 1 when one is broken)."""
    with open_cli_store() as store, store.snapshot():  # the heads printed are the ones verified
        result = store.verify()
        heads = store.heads()
        anchors = store.anchors()
        marks = {mark.chain: mark for mark in store.redactions()}  # the newest of each chain
        redacted = store.redacted_count()
    if result.ok:
        _out.print(
            f"intact: {result.checked} records in {result.chains} chains ({redacted} of them pruned to their link)"
        )
        # Keep these somewhere the store's administrators cannot write: they anchor the chains, so that even a
        # rewrite of a whole chain's tail (hashes recomputed) shows up against them.
        for chain, head in heads.items():
            _out.print(f"  head {chain}: {head.next_seq} records, last hash {head.hash}")
        for anchor in anchors:
            _out.print(f"  anchor {anchor.chain}: pruned before position {anchor.seq}, anchor hash {anchor.hash}")
        for chain, mark in marks.items():
            _out.print(f"  pruning {chain}: {mark.n + 1} prunings, newest mark hash {mark.hash}")
        return
    _out.print(f"BROKEN: first broken record: {result.first_broken}", style="red", soft_wrap=True)
    for broken in result.broken[1:]:
        _out.print(f"also broken: {broken}")
    raise typer.Exit(1)


@app.command()
def prune(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            help="Keep no record longer than this many days, whatever its covenant says "
            "(default: SCHAKEL_LINEAGE_RETENTION_DAYS when set).",
        ),
    ] = None,
    store_only: Annotated[
        bool, typer.Option("--store-only", help="Prune the store only; leave the lineage topics as they are.")
    ] = False,
) -> None:
    """Prune every lineage record past its covenant's lineage period (the hub's own for records without one): its
    body goes, its link stays, so every chain stays verifiable. Then cut each topic the store is fed from (lineage,
    the receipts topics) behind the store; one that cannot be cut is named and the rest are cut (exit 1)."""
    from kafka.errors import KafkaError

    config = settings()
    try:
        result = prune_lineage(config, retention_days=older_than)
    except (LineageError, CovenantError) as error:
        _err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    _out.print(f"pruned {result.total} records past their covenant's lineage period")
    for chain, count in result.pruned.items():
        _out.print(f"  {chain}: {count}")
    if store_only:
        return
    uncut = 0
    with open_cli_store() as store:
        for topic in HubTopics.of(config).lineage_sources():
            try:
                cut = cut_lineage_topic(config, store, topic=topic)
            except (LineageError, KafkaIdentityError, KafkaError) as error:
                _err.print(f"[red]error:[/red] the store is pruned, but topic {topic} was not cut: {error}")
                uncut += 1
                continue
            _out.print(f"topic {cut.topic}: {cut.deleted} records deleted from the topic")
            for partition in sorted(cut.after):
                moved = cut.after[partition] != cut.before[partition]
                if moved or partition in cut.skipped:
                    why = f" (left alone: {cut.skipped[partition]})" if partition in cut.skipped else ""
                    _out.print(f"  partition {partition}: starts at offset {cut.after[partition]}{why}")
    if uncut:
        raise typer.Exit(1)


@app.command()
def trace(
    event_id: str = typer.Argument(..., help="The event's id (UUID)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row (JSON lines)."),
) -> None:
    """Every hop of one event: decisions and receipts, times, fields sent and withheld, trace ids."""
    uuid = uuid_argument(event_id, "event id")
    with open_cli_store() as store:
        report = store.trace(uuid)
        _say_if_behind(store)
    if not as_json:
        traces = ", ".join(report.trace_ids) or "-"
        if not report.found:
            _err.print(f"no lineage for event {uuid}")
        elif report.sender is not None:
            _err.print(f"event {uuid}: {report.event_type} from {report.sender}; trace {traces}")
        else:  # an event is its source and its id: several senders chose this id, each hop names its own
            _err.print(f"event id {uuid}, used by {len(report.senders)} senders; trace {traces}")
    print_rows(
        _HOP_COLUMNS,
        (
            {
                **hop.model_dump(mode="json"),
                "kind": hop.kind.value,
                "from": f"{hop.sender}/{hop.event_type}",
                "time": f"{hop.start_time:%Y-%m-%d %H:%M:%S.%f} .. {hop.end_time:%H:%M:%S.%f}",
            }
            for hop in report.hops
        ),
        as_json=as_json,
    )
    _print_derived(report, as_json=as_json)
    if not report.found:
        raise typer.Exit(3)


_DERIVED_COLUMNS = ("relation", "event_id", "event_type", "recipient", "time", "reasons", "derived_from")


def _print_derived(report: TraceReport, *, as_json: bool) -> None:
    """The events derived from the traced one (the ZVH's bundles), each ``derived-from`` it: rows of their own."""
    if not report.derived:
        return
    if not as_json:
        _err.print(f"derived from event {report.event_id}: {len(report.derived)}")
    rows = []
    for hop in report.derived:
        rows.append(
            {
                "relation": "derived-from",
                "event_id": str(hop.event_id),
                "event_type": hop.event_type,
                "recipient": hop.recipient,
                "time": f"{hop.end_time:%Y-%m-%d %H:%M:%S}",
                "reasons": hop.reasons,
                "derived_from": hop.derived_from,
            }
        )
    print_rows(_DERIVED_COLUMNS, rows, as_json=as_json)


@app.command()
def subject(
    bsn: str = typer.Option(..., "--bsn", help="The citizen's BSN; '-' reads it from standard input (not argv)."),
    output_format: str = typer.Option(
        "json", "--format", help="json (the contact point's record), html (the page) or pdf (the letter)."
    ),
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
) -> None:
    """The AVG art. 15 report for one person, for all partners at once (the BSN is pseudonymised first)."""
    if output_format not in _FORMATS:
        _err.print("[red]error:[/red] --format is json, html or pdf")
        raise typer.Exit(2)
    pseudonyms = _person(bsn)
    with open_cli_store() as store:
        report = access_report(store.subject_report(pseudonyms))
        _say_if_behind(store)
    if report.untranslated:  # shown in general words; the codes go to the operator, never to the page
        _err.print(f"note: no words in the translation table for {', '.join(report.untranslated)}")
    _write(_renderer(output_format)(report), out)


_FORMATS = ("json", "html", "pdf")


def _renderer(output_format: str) -> Callable[[AccessReport], str | bytes]:
    if output_format == "pdf":
        from schakel.lineage.report_pdf import render_access_report_pdf

        return render_access_report_pdf
    return access_report_json if output_format == "json" else render_access_report_html


def _person(bsn: str) -> tuple[str, ...]:
    """The pseudonyms to start from for a BSN given as an option ('-': one line of standard input)."""
    if bsn == "-":
        bsn = sys.stdin.readline()
    try:
        return subject_pseudonyms(bsn)
    except LineageError as error:
        _err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


@app.command()
def disclosures(
    to: Organisation = typer.Option(..., "--to", help="The recipient's organisation code."),
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD (midnight UTC) or an ISO-8601 time."),
    bsn: str | None = typer.Option(None, "--bsn", help="Only about this person ('-': read it from standard input)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per row (JSON lines)."),
) -> None:
    """The disclosure register: what one partner was given (about one person, every identifier linked to them)."""
    from schakel.lineage.api import parse_since

    try:
        start = parse_since(since)
    except ValueError:
        _err.print("[red]error:[/red] --since is not a date (YYYY-MM-DD) or ISO-8601 time in range")
        raise typer.Exit(2) from None
    person = None if bsn is None else _person(bsn)
    with open_cli_store() as store:
        register = store.disclosures(to.value, start, person=person)
        _say_if_behind(store)
    if not as_json:
        period = f" since {start:%Y-%m-%d %H:%M %Z}" if start else ""
        _err.print(f"{len(register.disclosures)} disclosures to {to}{period}")
    print_rows(_DISCLOSURE_COLUMNS, (d.model_dump(mode="json") for d in register.disclosures), as_json=as_json)


@app.command()
def export(
    out: Annotated[Path | None, typer.Option("--out", help="File to write; default standard output.")] = None,
    bsn: str | None = typer.Option(None, "--bsn", help="Only about this person ('-': read it from standard input)."),
) -> None:
    """Every record (or every record about one person) in the Logboek Dataverwerkingen shape, one JSON object per
    line."""
    person = None if bsn is None else _person(bsn)
    with ExitStack() as stack:
        store = stack.enter_context(open_cli_store())
        try:
            target: IO[str] = sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8"))
        except OSError as error:
            raise cannot_write(out, error) from None  # type: ignore[arg-type]
        # No bar when the records themselves go to the terminal.
        shown = None if out is None and is_terminal() else store.count()
        advance = stack.enter_context(progress("exporting lineage", shown)) if shown is not None else None
        written = store.export_logboek(
            target if advance is None else cast(IO[str], _Counted(target, advance)), person=person
        )
    _err.print(f"exported {written} records")


@app.command()
def scan(
    names_file: Annotated[
        Path | None, typer.Option("--names", help="A file with one name per line to look for.")
    ] = None,
) -> None:
    """Scan the store for personal data (BSN-like numbers, listed names, free text); exit 1 on any finding."""
    try:
        names = names_file.read_text(encoding="utf-8").splitlines() if names_file else []
    except (OSError, UnicodeDecodeError) as error:  # the file's lines are names: never echoed
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        _err.print(f"[red]error:[/red] cannot read the names file {names_file}: {reason}")
        raise typer.Exit(2) from None
    with open_cli_store() as store:
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
    allow_unauthenticated: bool = typer.Option(
        False,
        "--allow-unauthenticated",
        help="Bind a non-loopback address although the API has no authentication (put an authenticating proxy in "
        "front of it).",
    ),
) -> None:
    """Serve the answers over HTTP for the console (loopback only, unless --allow-unauthenticated)."""
    if not is_loopback(host) and not allow_unauthenticated:
        _err.print(
            f"[red]refused:[/red] --host {host} is not a loopback address. The lineage API has no authentication "
            "and answers which partners received data about a person (by BSN); anyone who can reach the address "
            "could ask. Keep it on 127.0.0.1 behind an authenticating proxy, or pass --allow-unauthenticated if "
            "such a proxy is the only way in."
        )
        raise typer.Exit(2)
    from aiohttp import web

    from schakel.lineage.api import create_app

    with open_cli_store() as store:
        listening: list[str] = []

        def listens(line: str) -> None:  # aiohttp's "Running on": every site is bound
            listening.append(line)
            _err.print(line)

        try:
            web.run_app(create_app(store), host=host, port=port, print=listens)
        except OSError as error:
            if listening:
                raise
            # the port taken, the address not this machine's: one line, not a traceback
            _err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {error.strerror}")
            raise typer.Exit(1) from None
