"""``schakel subject ...``: the data subject's requests as the contact point (the ZVH) follows them up.

``requests`` lists them from the lineage store (:mod:`schakel.lineage.requests`): what was asked, when it arrived,
the deadline (one month, AVG art. 12(3)), whom it went to and who has not confirmed. Exit codes for cron: 0 when no
open request is past its deadline, 1 when one is (``--json`` for a script), 2 for a usage error. ``report`` writes the
art. 15 report (for the whole ZVH network) of the person an access request is about, from the request's id - the BSN
is not needed again: the request's lineage names the person's pseudonym.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schakel.lineage.cli import open_cli_store, uuid_argument
from schakel.lineage.requests import RequestState
from schakel.output import print_rows

__all__ = ["app"]

app = typer.Typer(help="The data subject's requests (AVG art. 15-21) made at the contact point.", no_args_is_help=True)
_out = Console(highlight=False, markup=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

_COLUMNS = ("request_id", "request", "state", "received", "deadline", "forwarded_to", "not_confirmed")


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
    print_rows(
        _COLUMNS,
        (
            {
                **status.model_dump(mode="json"),
                "received": f"{status.received:%Y-%m-%d %H:%M}",
                "deadline": f"{status.deadline:%Y-%m-%d %H:%M}",
            }
            if not as_json
            else status.model_dump(mode="json")
            for status in shown
        ),
        as_json=as_json,
    )
    overdue = [s for s in statuses if s.state is RequestState.OVERDUE]
    if not as_json and not shown:
        _err.print("no open requests" if not show_all else "no requests")
    if overdue:
        _err.print(f"{len(overdue)} request(s) past the deadline (AVG art. 12(3))")
        raise typer.Exit(1)


@app.command("report")
def report_command(
    request_id: Annotated[str, typer.Argument(help="The access request's id (UUID).")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
) -> None:
    """The AVG art. 15 report (JSON) of the person a request is about, for the whole ZVH network."""
    wanted = uuid_argument(request_id, "request id")
    with open_cli_store() as store:
        found = [s for s in store.subject_requests(datetime.now(UTC)) if s.request_id == wanted]
        if not found:
            _err.print(f"no request {wanted} in the lineage store (is `schakel lineage ingest` running?)")
            raise typer.Exit(3)
        report = store.subject_report(found[0].data_subject_id)
    text = report.model_dump_json(indent=2) + "\n"
    if out is None:
        _out.print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
