"""``schakel subject requests|report`` and the request records lineage accepts (and refuses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from typer.testing import CliRunner

from schakel.cli import app
from schakel.lineage import (
    REQUEST_CONFIRM_RECORD_NAME,
    InvalidRecordError,
    LineagePosition,
    LineageRecord,
    RecordKind,
    open_store,
    record_id,
)
from schakel.lineage.ingest import DEFAULT_GROUP_ID
from schakel.lineage.pseudonym import subject_pseudonym
from schakel.lineage.requests import answer_record
from schakel.settings import settings
from schakel.streams.access import provision
from schakel.streams.topics import HubTopics
from tests.lineage.factory import SUBJECT_A, decision, request_received
from tests.streams.conftest import _delete_topics

BSN = "999990019"

runner = CliRunner()


def _forwarded(request: UUID, to: str, at: datetime, outcome: str = "permit") -> LineageRecord:
    return decision(
        event_id=request,
        recipient=to,
        sender="zvh",
        event_type="SubjectRequest",
        outcome=outcome,
        fields_sent=("kind",),
        at=at,
        purpose="case-consultation",
        legal_basis=("AVG 6(1)(c)",),
    )


def _confirmed(request: UUID, by: str, at: datetime) -> LineageRecord:
    return LineageRecord(
        record_id=record_id(by, request, SUBJECT_A, "zvh", RecordKind.RECEIPT),
        kind=RecordKind.RECEIPT,
        name=REQUEST_CONFIRM_RECORD_NAME,
        status="ok",
        start_time=at,
        end_time=at,
        event_id=request,
        event_type="SubjectRequest",
        sender=by,
        recipient="zvh",
        outcome="confirmed",
        purpose="case-consultation",
        data_subject_id=SUBJECT_A,
        data_subject_key="bsn",
    )


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def test_requests_lists_open_ones_with_who_has_not_confirmed_and_exits_1_when_overdue(data_dir: Path) -> None:
    now = datetime.now(UTC)
    recent, old = uuid4(), uuid4()
    records = [
        request_received(recent, now - timedelta(days=3)),
        _forwarded(recent, "politie", now - timedelta(days=3)),
        _forwarded(recent, "ggz", now - timedelta(days=3)),
        _forwarded(recent, "om", now - timedelta(days=3), outcome="deny"),  # received no data: not forwarded
        _confirmed(recent, "ggz", now - timedelta(days=1)),
    ]
    with open_store(None, data_dir) as store:
        store.append([(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate(records)])
    result = runner.invoke(app, ["subject", "requests", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["request_id"], row["request"], row["state"]) == (str(recent), "erasure", "open")
    assert (row["forwarded_to"], row["confirmed"], row["not_confirmed"]) == (["ggz", "politie"], ["ggz"], ["politie"])

    with open_store(None, data_dir) as store:  # a request of 40 days ago that politie never confirmed
        overdue = [request_received(old, now - timedelta(days=40), "restriction"), _forwarded(old, "politie", now)]
        store.append([(r, LineagePosition("schakel.lineage", 0, 10 + i)) for i, r in enumerate(overdue)])
    table = runner.invoke(app, ["subject", "requests"])
    assert table.exit_code == 1
    lines = table.stdout.splitlines()  # not a terminal: tab-separated rows under a header
    assert lines[0].split("\t") == [
        "request_id",
        "request",
        "state",
        "received",
        "deadline",
        "forwarded_to",
        "not_confirmed",
    ]
    assert {line.split("\t")[2] for line in lines[1:]} == {"open", "overdue"}
    assert "past the deadline" in table.output

    with open_store(None, data_dir) as store:  # the last confirmations close both
        closing = [_confirmed(recent, "politie", now), _confirmed(old, "politie", now)]
        store.append([(r, LineagePosition("schakel.lineage", 0, 20 + i)) for i, r in enumerate(closing)])
    done = runner.invoke(app, ["subject", "requests"])
    assert done.exit_code == 0
    assert len(done.stdout.splitlines()) == 1  # the header only
    everything = runner.invoke(app, ["subject", "requests", "--all", "--json"])
    assert {json.loads(line)["state"] for line in everything.stdout.splitlines()} == {"closed"}


_EVERYONE = ("gemeente-sociaal", "gemeente-veiligheid", "politie", "om", "reclassering", "rvdk", "ggz")


def test_requests_on_an_80_column_terminal_fit_and_the_pipe_and_json_forms_stay_whole(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    kinds = ("rectification", "restriction-lifted", "access", "erasure")
    requests = [uuid4() for _ in kinds]
    records: list[LineageRecord] = []
    for i, (request, asked) in enumerate(zip(requests, kinds, strict=True)):
        at = now - timedelta(days=40 * (i % 2) + i)
        records.append(request_received(request, at, asked))
        records += [_forwarded(request, partner, at) for partner in _EVERYONE]
        records += [_confirmed(request, "om", at)]
    with open_store(None, data_dir) as store:
        store.append([(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate(records)])

    piped = runner.invoke(app, ["subject", "requests"])
    as_json = runner.invoke(app, ["subject", "requests", "--json"])
    rows = [line.split("\t") for line in piped.stdout.splitlines()[1:]]
    assert {row[0] for row in rows} == {str(r) for r in requests}  # whole ids, times, codes through a pipe
    assert all(row[5] == ", ".join(sorted(_EVERYONE)) for row in rows)
    assert all(len(row[3]) == len("2026-12-02 10:00") for row in rows)
    assert {json.loads(line)["request"] for line in as_json.stdout.splitlines()} == set(kinds)

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr("schakel.lineage.requests_cli.is_terminal", lambda: True)
    monkeypatch.setattr("schakel.output.is_terminal", lambda _stream=None: True)
    table = runner.invoke(app, ["subject", "requests"])
    assert table.exit_code == 1  # two are past their deadline
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n" + table.stdout
    for request in requests:  # the short id, and the dates without their time, each on one line
        assert sum(str(request)[:8] in line for line in lines) == 1
    assert f"{now - timedelta(days=2):%Y-%m-%d}" in table.stdout
    assert f"{now:%H:%M}" not in table.stdout
    for word in ("gem-soc,", "gem-veil,", "reclass,", "politie,", "rvdk"):  # partners whole, wrapped in their column
        assert word in table.stdout, table.stdout

    too_short = runner.invoke(app, ["subject", "report", str(requests[0])[:2]])
    assert too_short.exit_code == 2  # fewer than the 8 digits the table shows: not an id


@pytest.mark.kafka
def test_report_answers_an_access_request_for_the_whole_network_and_lineage_says_so(
    data_dir: Path, kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", f"t{unique}.")
    settings.cache_clear()
    config = settings()
    topics = HubTopics.of(config)
    # The topics and the grants of this prefix: the answer goes to the contact point's receipts topic, as zvh.
    provision(config, [topics.lineage, topics.receipts("zvh")])
    person = subject_pseudonym(BSN)
    request = uuid4()
    now = datetime.now(UTC)
    records = [decision(at=now - timedelta(days=9), subject=person), request_received(request, now, "access", person)]
    try:
        with open_store(None, data_dir) as store:
            store.append([(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate(records)])
        result = runner.invoke(app, ["subject", "report", str(request)[:8]])  # the id as the terminal table shows it
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert [section["recipient"] for section in report["partners"]] == ["politie"]  # the request is no disclosure
        again = runner.invoke(app, ["subject", "report", str(request)])
        assert again.exit_code == 0, again.output
        missing = runner.invoke(app, ["subject", "report", str(uuid4())])
        assert missing.exit_code == 3

        # The answer is a lineage record: once ingested, the person's report says when the request was answered.
        ingested = runner.invoke(app, ["lineage", "ingest", "--group", f"{DEFAULT_GROUP_ID}-{unique}"])
        assert ingested.exit_code == 0, ingested.output
        answered = runner.invoke(app, ["lineage", "subject", "--bsn", "-"], input=f"{BSN}\n")
        assert answered.exit_code == 0, answered.output
        words = json.loads(answered.stdout)
        assert [(s["request"]["code"], s["step"]["code"], s["organisation"]["code"]) for s in words["requests"]] == [
            ("access", "received", "zvh"),
            ("access", "answered", "zvh"),
        ]
        assert words["requests"][1]["step"]["nl"] == "gaf u een overzicht van uw gegevens"
        assert not [code for code in words["untranslated"] if code.startswith("request")]  # the steps have words
        assert runner.invoke(app, ["lineage", "verify"]).exit_code == 0
    finally:
        _delete_topics(config)


def test_no_report_without_its_lineage_record(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: when the answer cannot be recorded (no broker answers), there is no report."""
    monkeypatch.setenv("SCHAKEL_KAFKA_BOOTSTRAP", "127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("SCHAKEL_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    settings.cache_clear()
    request = uuid4()
    with open_store(None, data_dir) as store:
        store.append(
            [(request_received(request, datetime.now(UTC), "access"), LineagePosition("schakel.lineage", 0, 0))]
        )
    result = runner.invoke(app, ["subject", "report", str(request)])
    assert result.exit_code == 1
    assert "no report" in result.output
    assert '"partners"' not in result.stdout


def test_a_report_file_that_cannot_be_written_stops_before_the_answer_is_recorded(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's lineage record says the person was answered: never while the report has nowhere to go. The
    broker is unreachable here, so only a check before the recording can name the file."""
    monkeypatch.setenv("SCHAKEL_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("SCHAKEL_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    settings.cache_clear()
    request = uuid4()
    with open_store(None, data_dir) as store:
        store.append(
            [(request_received(request, datetime.now(UTC), "access"), LineagePosition("schakel.lineage", 0, 0))]
        )
    out = data_dir / "missing" / "report.json"
    result = runner.invoke(app, ["subject", "report", str(request), "--out", str(out)])
    assert result.exit_code == 1
    assert f"cannot write {out}" in result.output
    assert "no report" not in result.output  # it never got as far as the broker
    kept = data_dir / "kept.json"
    kept.write_text("an earlier report\n", encoding="utf-8")
    refused = runner.invoke(app, ["subject", "report", str(request), "--out", str(kept)])
    assert refused.exit_code == 1  # now the broker: no report, and the file already there is left as it was
    assert "no report" in refused.output
    assert kept.read_text(encoding="utf-8") == "an earlier report\n"
    fresh = data_dir / "fresh.json"
    assert runner.invoke(app, ["subject", "report", str(request), "--out", str(fresh)]).exit_code == 1
    assert not fresh.exists()  # no empty file left behind


def test_the_answer_is_recorded_against_the_request() -> None:
    request, now = uuid4(), datetime.now(UTC)
    answer = answer_record(request_received(request, now - timedelta(days=2), "access"), now)
    assert LineageRecord.from_bytes(answer.to_bytes()) == answer
    assert (answer.kind, answer.outcome, answer.sender, answer.recipient) == (
        RecordKind.RECEIPT,
        "answered",
        "zvh",
        "zvh",
    )
    assert answer.event_id == request
    with pytest.raises(ValueError, match="request's own record"):
        answer_record(decision(), now)
    for change in ({"outcome": "confirmed"}, {"sender": "politie", "record_id": None}, {"kind": "decision"}):
        data = {**answer.model_dump(), **change}
        if data["record_id"] is None or change.get("kind"):
            data["record_id"] = record_id(data["sender"], request, SUBJECT_A, "zvh", RecordKind(data["kind"]))
        with pytest.raises(InvalidRecordError):
            LineageRecord.from_bytes(json.dumps(data, default=str).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "permit"},  # a request record has no outcome
        {"sender": "politie"},  # only the contact point receives requests
        {"reasons": ("delete-everything",)},  # what was asked is a code
        {"event_type": "Signal"},
    ],
)
def test_lineage_refuses_a_malformed_request_record(change: dict[str, object]) -> None:
    good = request_received(uuid4(), datetime.now(UTC))
    data = json.loads(good.to_bytes())
    data.update({k: list(v) if isinstance(v, tuple) else v for k, v in change.items()})
    if "sender" in change:
        data["record_id"] = record_id(str(change["sender"]), good.event_id, SUBJECT_A, "zvh", RecordKind.DECISION)
    with pytest.raises(InvalidRecordError):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_only_a_confirmation_is_confirmed() -> None:
    plain = decision(outcome="permit")
    data = json.loads(plain.to_bytes())
    data.update(
        kind="receipt",
        outcome="confirmed",
        record_id=record_id(plain.sender, plain.event_id, plain.data_subject_id, plain.recipient, RecordKind.RECEIPT),
    )
    with pytest.raises(InvalidRecordError):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_the_logbook_names_who_answered() -> None:
    now = datetime.now(UTC)
    answer = answer_record(request_received(uuid4(), now, "access"), now)
    exported = answer.to_logboek()
    assert exported["resource"]["attributes"]["schakel.component"] == "contact-point"
    assert exported["attributes"]["schakel.outcome"] == "answered"
