"""``schakel lineage ...`` end to end on a SQLite store under a temporary data directory."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from typer.testing import CliRunner

from schakel.consent import Pseudonymizer
from schakel.lineage import LineagePosition, LineageRecord, open_store, subject_pseudonym, subject_pseudonyms
from schakel.lineage.cli import app
from schakel.lineage.ingest import DEFAULT_GROUP_ID
from schakel.lineage.store import SQLITE_FILE
from schakel.offsets import group_lag, positions
from schakel.settings import Settings, settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, create_topics
from tests.lineage.factory import SUBJECT_B, decision, receipt

BSN = "111222333"
OTHER_BSN = "123456782"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def _fill(data_dir: Path) -> list[LineageRecord]:
    subject = subject_pseudonym(BSN)
    records = [
        decision(subject=subject, recipient="politie", fields_withheld=("ideology",)),
        decision(subject=subject, recipient="ggz", outcome="deny", fields_withheld=("urgency",)),
        decision(subject=subject_pseudonym(OTHER_BSN), recipient="om", fields_sent=("iban",)),
    ]
    with open_store(None, data_dir) as store:
        store.append([(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate(records)])
        store.append([(receipt(records[0]), LineagePosition("schakel.lineage", 0, 3))])
    return records


def test_verify_names_the_first_broken_record(data_dir: Path) -> None:
    records = _fill(data_dir)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact: 4 records" in ok.output
    raw = sqlite3.connect(data_dir / SQLITE_FILE)
    raw.execute("UPDATE lineage_record SET fields_withheld = '[]' WHERE record_id = ?", (records[1].record_id,))
    raw.commit()
    broken = runner.invoke(app, ["verify"])
    assert broken.exit_code == 1
    assert records[1].record_id in broken.output


def test_trace_and_disclosures(data_dir: Path) -> None:
    records = _fill(data_dir)
    runner = CliRunner()
    traced = runner.invoke(app, ["trace", str(records[0].event_id), "--json"])
    assert traced.exit_code == 0, traced.output
    hops = [json.loads(line) for line in traced.stdout.splitlines()]
    assert [(h["kind"], h["recipient"]) for h in hops] == [("decision", "politie"), ("receipt", "politie")]
    assert runner.invoke(app, ["trace", "not-a-uuid"]).exit_code == 2
    readable = runner.invoke(app, ["trace", str(records[0].event_id)])
    assert records[0].fields_sent
    assert records[0].fields_withheld == ("ideology",)
    for name in (*records[0].fields_sent, "ideology"):
        assert name in readable.output, "field lists must print as text, not be eaten as console markup"
    register = runner.invoke(app, ["disclosures", "--to", "om", "--since", "2026-01-01", "--json"])
    assert register.exit_code == 0, register.output
    assert [json.loads(line)["fields_sent"] for line in register.stdout.splitlines()] == [["iban"]]


def test_subject_report_from_a_bsn_on_stdin(data_dir: Path) -> None:
    _fill(data_dir)
    out = data_dir / "inzage.html"
    result = CliRunner().invoke(app, ["subject", "--bsn", "-", "--format", "html", "--out", str(out)], input=BSN + "\n")
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "De politie" in page
    assert "GGZ-instelling" in page
    assert "Openbaar Ministerie" not in page  # only the other person's data went to the OM
    assert BSN not in page
    as_json = CliRunner().invoke(app, ["subject", "--bsn", BSN])
    record = json.loads(as_json.stdout)
    assert record["format"] == "schakel.art15/1"
    assert record["data_subject_id"] == subject_pseudonym(BSN)
    # The factory's covenant is no shipped one: the page says it in general words, the operator is told the code.
    assert record["untranslated"] == ["covenants:cter-noord-holland"]
    assert "covenants:cter-noord-holland" in as_json.stderr
    as_pdf = CliRunner().invoke(app, ["subject", "--bsn", BSN, "--format", "pdf"])
    assert as_pdf.exit_code == 0, as_pdf.output
    assert as_pdf.stdout_bytes.startswith(b"%PDF")
    assert BSN.encode() not in as_pdf.stdout_bytes
    unknown = CliRunner().invoke(app, ["subject", "--bsn", BSN, "--format", "xml"])
    assert unknown.exit_code == 2
    invalid = CliRunner().invoke(app, ["subject", "--bsn", "123456789"])
    assert invalid.exit_code == 2
    assert "123456789" not in invalid.output


def test_a_file_that_cannot_be_written_is_named_in_one_line(data_dir: Path) -> None:
    _fill(data_dir)
    out = data_dir / "missing" / "inzage.html"
    for args, given in (
        (["subject", "--bsn", "-", "--format", "html", "--out", str(out)], BSN + "\n"),
        (["export", "--out", str(out)], None),
    ):
        result = CliRunner().invoke(app, args, input=given)
        assert result.exit_code == 1, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert f"cannot write {out}: No such file or directory" in result.output, args


def test_an_unknown_organisation_or_a_missing_names_file_is_refused_in_one_line(data_dir: Path) -> None:
    _fill(data_dir)
    unknown = CliRunner().invoke(app, ["disclosures", "--to", "interpol"])
    assert unknown.exit_code == 2, unknown.output  # not "0 disclosures to interpol", as if it were a partner
    assert "'interpol' is not one of" in unknown.output
    missing = data_dir / "names.txt"
    scan = CliRunner().invoke(app, ["scan", "--names", str(missing)])
    assert scan.exit_code == 2, scan.output
    assert isinstance(scan.exception, SystemExit), scan.exception
    assert f"cannot read the names file {missing}: No such file or directory" in scan.output


def test_export_writes_logboek_lines(data_dir: Path) -> None:
    _fill(data_dir)
    out = data_dir / "logboek.jsonl"
    result = CliRunner().invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4
    assert {line["attributes"]["dpl.core.data_subject_id_type"] for line in lines} == {"schakel-pseudonym:bsn"}
    assert SUBJECT_B not in out.read_text(encoding="utf-8")


def test_scan_exits_clean_on_a_clean_store(data_dir: Path) -> None:
    _fill(data_dir)
    names = data_dir / "names.txt"
    names.write_text("Jansen\nde Vries\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", "--names", str(names)])
    assert result.exit_code == 0, result.output
    assert '{"findings": 0}' in result.stdout


def test_subject_report_uses_the_hubs_subject_key(data_dir: Path) -> None:
    (mine,) = subject_pseudonyms(BSN)
    assert mine == Pseudonymizer(Settings().pseudonym_key.get_secret_value().encode()).subject(f"bsn:{BSN}")
    (other,) = subject_pseudonyms(OTHER_BSN)
    assert other != mine
    records = [
        decision(subject=mine, recipient="reclassering", fields_sent=("contribution",)),
        decision(subject=other, recipient="om", fields_sent=("iban",)),
    ]
    with open_store(None, data_dir) as store:
        store.append([(r, None) for r in records])
    result = CliRunner().invoke(app, ["subject", "--bsn", BSN])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p["organisation"]["code"] for p in report["partners"]] == ["reclassering"]
    assert report["data_subject_ids"] == [mine]


def test_an_empty_store_says_how_to_fill_it(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["trace", "6c1b9a52-4f55-4b8e-9d0e-8c7f1e2a3b4c"])
    assert result.exit_code == 3
    assert "the lineage store is empty" in result.stderr
    assert "schakel lineage ingest" in result.stderr
    assert result.stdout.splitlines()[0].startswith("time\tfrom\tkind\trecipient")


@pytest.mark.kafka
def test_a_store_behind_the_topic_says_how_to_catch_up(
    data_dir: Path, kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _fill(data_dir)
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", f"t{unique}.")
    settings.cache_clear()
    config = settings()
    create_topics(config, [config.topic("lineage")])
    producer = KafkaProducer(**config.kafka_client_config(ADMIN))
    try:
        for record in records:  # each one acknowledged by the broker (acks=all) before the command asks
            producer.send(config.topic("lineage"), value=record.to_bytes()).get(timeout=60)
    finally:
        producer.close()
    try:
        result = CliRunner().invoke(app, ["trace", str(records[0].event_id)])
        # The note is best effort (no note when the broker does not answer in time): if it is missing, say what the
        # broker answers now, so a failure names its cause instead of only its symptom.
        why = "" if "behind the lineage topic" in result.stderr else _behind_now(config)
    finally:
        admin = KafkaAdminClient(**config.kafka_client_config(ADMIN))
        admin.delete_topics([config.topic("lineage")])
        admin.close()
    assert result.exit_code == 0, result.output
    assert "behind the lineage topic" in result.stderr, why
    assert "schakel lineage ingest --follow" in result.stderr


def _behind_now(config: Settings) -> str:
    try:
        held = positions(config, config.topic("lineage"))[0].held
        lag = group_lag(config, DEFAULT_GROUP_ID, [config.topic("lineage")])
    except Exception as error:
        return f"asking the broker failed: {error!r}"
    return f"the topic holds {held} records; the store's group lags {lag}"


def _export(data_dir: Path, stderr: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "schakel.cli", "lineage", "export", "--out", str(data_dir / "out.jsonl")],
        env={**os.environ, "SCHAKEL_DATA_DIR": str(data_dir), "COLUMNS": "100"},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def test_export_shows_progress_on_a_terminal_and_nothing_on_a_pipe(data_dir: Path) -> None:
    _fill(data_dir)
    piped = _export(data_dir, subprocess.PIPE)
    _, said = piped.communicate(timeout=120)
    assert said.decode() == "exported 4 records\n"

    leader, follower = pty.openpty()
    shown = _export(data_dir, follower)
    os.close(follower)
    chunks: list[bytes] = []
    with contextlib.suppress(OSError):  # the terminal closes when the command exits
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    os.close(leader)
    assert shown.wait(timeout=120) == 0
    terminal = b"".join(chunks).decode(errors="replace")
    assert "exporting lineage" in terminal
    assert "4/4" in terminal


def _in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its standard output and error; its exit code and what it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "schakel.cli", *args], env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    with contextlib.suppress(OSError):  # the terminal closes when the command exits
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.mark.kafka
def test_ingest_shows_its_progress_on_a_terminal_and_nothing_on_a_pipe(
    data_dir: Path, kafka_bootstrap: str, unique: str
) -> None:
    config = Settings(topic_prefix=f"t{unique}.", data_dir=data_dir)
    provision(config, [config.topic("lineage")])  # ingest reads as the lineage principal
    producer = KafkaProducer(**config.kafka_client_config(ADMIN))
    for record in [decision(recipient="politie") for _ in range(30)]:
        producer.send(config.topic("lineage"), value=record.to_bytes())
    producer.flush()
    producer.close()
    env = {**os.environ, "SCHAKEL_TOPIC_PREFIX": config.topic_prefix, "SCHAKEL_DATA_DIR": str(data_dir)}
    try:
        code, terminal = _in_terminal(["lineage", "ingest", "--group", f"schakel-lineage-store-{unique}-tty"], env)
        piped = subprocess.run(
            [
                sys.executable,
                "-m",
                "schakel.cli",
                "lineage",
                "ingest",
                "--group",
                f"schakel-lineage-store-{unique}-pipe",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        admin = KafkaAdminClient(**config.kafka_client_config(ADMIN))
        admin.delete_topics([config.topic("lineage")])
        admin.close()
    assert code == 0, terminal
    assert "ingesting lineage" in terminal
    assert "30/30" in terminal
    assert piped.returncode == 0, piped.stderr
    assert "ingesting" not in piped.stdout + piped.stderr
    assert "30 messages (30 records): 0 stored, 30 already stored" in piped.stdout


def test_a_since_before_the_first_utc_instant_is_a_usage_error(data_dir: Path) -> None:
    _fill(data_dir)
    result = CliRunner().invoke(app, ["disclosures", "--to", "om", "--since", "0001-01-01T00:00:00+01:00"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_one_id_from_two_senders_is_two_events_in_the_store_and_the_trace_names_each_sender(data_dir: Path) -> None:
    police = decision(subject=subject_pseudonym(BSN), recipient="zvh", sender="politie")
    municipality = decision(
        event_id=police.event_id, subject=subject_pseudonym(OTHER_BSN), recipient="zvh", sender="gemeente-sociaal"
    )
    with open_store(None, data_dir) as store:
        stored = store.append(
            [(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate([police, municipality])]
        )
        assert len(list(store.records())) == 2, f"one record merged into the other: {stored}"
    traced = CliRunner().invoke(app, ["trace", str(police.event_id)])
    assert traced.exit_code == 0, traced.output
    assert "used by 2 senders" in traced.output
    assert "politie/Signal" in traced.output
    assert "gemeente-sociaal/Signal" in traced.output
