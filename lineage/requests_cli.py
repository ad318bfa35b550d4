"""``schakel subject ...``: the data subject's requests as the contact point (the ZVH) follows them up.

``requests`` lists them from the lineage store (:mod:`schakel.lineage.requests`): what was asked, when it arrived,
the deadline (one month, AVG art. 12(3)), whom it went to and who has not confirmed. On a terminal the table fits 80
columns: the first 8 digits of a request's id (which ``report`` takes too), dates without the time, the longest
partner codes shortened (``gem-soc``, ``gem-veil``, ``reclass``) and partners wrapped within their column; through a
pipe the tab-separated rows and with ``--json`` the JSON lines keep every value whole, as before. Exit codes for
cron: 0 when no open request is past its deadline, 1 when one is (``--json`` for a script), 2 for a usage error.
``report`` writes the art. 15 report (for the whole ZVH network) of the person an access request is about, from the
request's id - the BSN is not needed again: the request's lineage names the person's pseudonym.

**The answer is in lineage.** Before ``report`` hands the report out it writes
``schakel.subject.request.answer`` (:func:`schakel.lineage.requests.answer_record`) to ``receipts.zvh``, as the
contact point (principal ``zvh``: the one lineage topic it may write, beside its sink's receipts; the ingest takes an
answer from there and from no other topic but the hub's), and waits for the broker to store it; when
it cannot, there is no report (fail closed: an answer lineage does not know of is a disclosure without a trace). The
store has it once ``schakel lineage ingest`` ran, and the person's next report says when they were answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schakel.errors import SchakelError
from schakel.lineage.cli import cannot_write, open_cli_store, uuid_argument
from schakel.lineage.record import LineageRecord
from schakel.lineage.requests import RequestState, RequestStatus, answer_record
from schakel.output import is_terminal, print_rows
from schakel.settings import settings
from schakel.streams.topics import HubTopics

__all__ = ["app"]

app = typer.Typer(help="The data subject's requests (AVG art. 15-21) made at the contact point.", no_args_is_help=True)
_out = Console(highlight=False, markup=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

_COLUMNS = ("request_id", "request", "state", "received", "deadline", "forwarded_to", "not_confirmed")
_SHORT_COLUMNS = ("id", "request", "state", "received", "deadline", "sent to", "unconfirmed")
_SHORT_ID = 8
"""Hex digits of a request id shown on a terminal; ``report`` takes them (or more) as well as the whole id."""
_SHORT_NAMES = {"gemeente-sociaal": "gem-soc", "gemeente-veiligheid": "gem-veil", "reclassering": "reclass"}
_SHORT_REQUESTS = {"rectification": "rectify", "restriction-lifted": "lift-restr"}


def _short_row(status: RequestStatus) -> dict[str, object]:
    """A request as a terminal shows it in 80 columns: the id's first digits, dates only, the longest partner
    and request codes shortened (the tab-separated form and ``--json`` keep everything whole)."""
    return {
        "id": str(status.request_id)[:_SHORT_ID],
        "request": _SHORT_REQUESTS.get(status.request, status.request),
        "state": status.state.value,
        "received": f"{status.received:%Y-%m-%d}",
        "deadline": f"{status.deadline:%Y-%m-%d}",
        "sent to": [_SHORT_NAMES.get(p, p) for p in status.forwarded_to],
        "unconfirmed": [_SHORT_NAMES.get(p, p) for p in status.not_confirmed],
    }


@app.command("requests")
def requests_command(
    show_all: Annotated[bool, typer.Option("--all", help="Closed requests too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per request (JSON lines).")] = False,
) -> None:
    """Open requests, their deadlines and the partners that have not confirmed (exit 1 when one is overdue)."""
    now = datetime.now(UTC)
    with open_cli_store() as store:
        statuses = store.subject_requests(now)
    shown = [s for s in statuses if show_all or s.state is not RequestState.CLOSED]
    if as_json:
        print_rows(_COLUMNS, (status.model_dump(mode="json") for status in shown), as_json=True)
    elif is_terminal():
        print_rows(_SHORT_COLUMNS, (_short_row(s) for s in shown), compact=True, no_wrap=_SHORT_COLUMNS[:5])
    else:
        print_rows(
            _COLUMNS,
            (
                {
                    **status.model_dump(mode="json"),
                    "received": f"{status.received:%Y-%m-%d %H:%M}",
                    "deadline": f"{status.deadline:%Y-%m-%d %H:%M}",
                }
                for status in shown
            ),
        )
    overdue = [s for s in statuses if s.state is RequestState.OVERDUE]
    if not as_json and not shown:
        _err.print("no open requests" if not show_all else "no requests")
    if overdue:
        _err.print(f"{len(overdue)} request(s) past the deadline (AVG art. 12(3))")
        raise typer.Exit(1)


@app.command("report")
def report_command(
    request_id: Annotated[
        str, typer.Argument(help="The access request's id (UUID), or its first 8 or more digits as listed.")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
) -> None:
    """The AVG art. 15 report (JSON) of the person a request is about, for the whole ZVH network."""
    prefix = request_id.strip().lower()
    short = _SHORT_ID <= len(prefix) < 36 and all(c in "0123456789abcdef-" for c in prefix)
    wanted = None if short else uuid_argument(request_id, "request id")
    with open_cli_store() as store:
        found = [
            s
            for s in store.subject_requests(datetime.now(UTC))
            if s.request_id == wanted or (short and str(s.request_id).startswith(prefix))
        ]
        if not found:
            _err.print(f"no request {wanted or prefix} in the lineage store (is `schakel lineage ingest` running?)")
            raise typer.Exit(3)
        if len(found) > 1:
            _err.print(f"[red]error:[/red] {len(found)} requests start with {prefix}; give more of the id")
            raise typer.Exit(2)
        wanted = found[0].request_id
        received = store.request_record(wanted)
        report = store.subject_report(found[0].data_subject_id)
    if received is None:  # the request's own record lists it: only a store changed under us gets here
        _err.print(f"no arrival record of request {wanted} in the lineage store")
        raise typer.Exit(3)
    # The file is opened before the answer goes on record (lineage would say the person was answered, and no report
    # would exist); opened to append, so that a file already there is only replaced once the answer is recorded.
    existed = out is not None and out.exists()
    try:
        target = None if out is None else out.open("a", encoding="utf-8")
    except OSError as error:
        raise cannot_write(out, error) from None  # type: ignore[arg-type]
    try:
        _record_answer(answer_record(received, datetime.now(UTC)))
    except BaseException:
        if target is not None and out is not None:
            target.close()
            if not existed:
                out.unlink(missing_ok=True)
        raise
    text = report.model_dump_json(indent=2) + "\n"
    if target is None:
        _out.print(text, end="")
        return
    with target:
        target.seek(0)
        target.truncate()
        target.write(text)


_CONTACT_POINT = "zvh"


def _record_answer(record: LineageRecord) -> None:
    """Write the answer's record to the contact point's receipts topic as the contact point and wait until the broker
    stored it; exit 1 (no report) when it cannot."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    config = settings()
    try:
        producer = KafkaProducer(**config.kafka_client_config(_CONTACT_POINT), acks="all")
    except (SchakelError, KafkaError) as error:
        _err.print(f"[red]error:[/red] the answer cannot be recorded in lineage, so no report ({error})")
        raise typer.Exit(1) from error
    try:
        topic = HubTopics.of(config).receipts(_CONTACT_POINT)
        future = producer.send(topic, key=record.data_subject_id.encode(), value=record.to_bytes())
        future.get(timeout=30)
    except KafkaError as error:
        _err.print(f"[red]error:[/red] the answer cannot be recorded in lineage, so no report ({type(error).__name__})")
        raise typer.Exit(1) from error
    finally:
        producer.close()
