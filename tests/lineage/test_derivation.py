"""Data provenance: a bundle's lineage record names the events it was derived from, and the answers follow it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from schakel.lineage import LineagePosition, LineageRecord, LineageStore, open_store, render_subject_report_html
from schakel.lineage.answers import build_subject_report, build_trace
from schakel.lineage.cli import app
from schakel.lineage.store import SQLITE_FILE
from schakel.settings import settings
from tests.lineage.factory import SUBJECT_A, bundle, decision, receipt


def _signals() -> tuple[LineageRecord, LineageRecord, LineageRecord]:
    police = decision(recipient="zvh", sender="politie", event_type="Signal")
    social = decision(recipient="zvh", sender="gemeente-sociaal", event_type="Signal")
    return police, social, bundle(police, social)


def test_only_a_bundle_record_names_what_it_derives_from_and_only_as_sender_and_id() -> None:
    police, _, made = _signals()
    assert made.derived_from == (f"politie/{police.event_id}", made.derived_from[1])
    with pytest.raises(ValidationError, match="only a bundle record"):
        LineageRecord.model_validate({**police.model_dump(), "derived_from": made.derived_from})
    for wrong in ("politie", f"nobody/{police.event_id}", "politie/99999999", f"politie/{police.event_id}/x", "Jan"):
        with pytest.raises(ValidationError, match="derived_from"):
            LineageRecord.model_validate({**made.model_dump(), "derived_from": (wrong,)})
    with pytest.raises(ValidationError, match="once"):
        LineageRecord.model_validate({**made.model_dump(), "derived_from": made.derived_from * 2})


def test_the_wire_form_carries_derived_from_only_when_there_is_one() -> None:
    police, _, made = _signals()
    assert b"derived_from" not in police.to_bytes()  # every other record keeps its bytes
    assert LineageRecord.from_bytes(police.to_bytes()) == police
    assert json.loads(made.to_bytes())["derived_from"] == list(made.derived_from)
    assert LineageRecord.from_bytes(made.to_bytes()) == made
    assert made.to_logboek()["attributes"]["schakel.derived_from"] == list(made.derived_from)
    assert "schakel.derived_from" not in police.to_logboek()["attributes"]


def test_the_trace_of_a_signal_leads_to_its_bundle_and_the_bundles_trace_names_its_signals(
    store: LineageStore,
) -> None:
    police, social, made = _signals()
    unrelated = bundle(decision(recipient="zvh", sender="om"), decision(recipient="zvh", sender="politie"))
    store.append([(record, LineagePosition("lineage", 0, n)) for n, record in enumerate((police, social, made))])
    store.append([(unrelated, LineagePosition("lineage", 0, 3))])
    traced = store.trace(police.event_id)
    assert [hop.event_id for hop in traced.derived] == [made.event_id]
    assert traced.derived[0].derived_from == made.derived_from
    assert [hop.event_id for hop in store.trace(social.event_id).derived] == [made.event_id]
    own = store.trace(made.event_id)
    assert own.hops[0].derived_from == (f"politie/{police.event_id}", f"gemeente-sociaal/{social.event_id}")
    assert own.derived == ()
    assert store.trace(uuid4()).derived == ()
    assert store.verify().ok


def test_a_bundle_the_trace_was_not_derived_from_is_not_listed() -> None:
    police, _, made = _signals()
    assert build_trace(uuid4(), [police], [made]).derived == ()
    assert [h.event_id for h in build_trace(police.event_id, [police], [made]).derived] == [made.event_id]


def test_clearing_or_setting_derived_from_in_the_store_breaks_the_chain(tmp_path: Path) -> None:
    # SQLite only: the tampering is written with sqlite3; the hashing is the same code on both backends.
    store = open_store(None, tmp_path)
    police, social, made = _signals()
    store.append([(record, LineagePosition("lineage", 0, n)) for n, record in enumerate((police, social, made))])
    path = Path(store.where)
    for column_value, record in ((None, made), (json.dumps([made.derived_from[0]]), made), ('["om/x"]', police)):
        with sqlite3.connect(path) as db:
            before = db.execute(
                "SELECT derived_from FROM lineage_record WHERE record_id = ?", (record.record_id,)
            ).fetchone()[0]
            db.execute(
                "UPDATE lineage_record SET derived_from = ? WHERE record_id = ?", (column_value, record.record_id)
            )
        result = store.verify()
        assert not result.ok
        assert result.first_broken is not None
        assert result.first_broken.record_id == record.record_id
        with sqlite3.connect(path) as db:
            db.execute("UPDATE lineage_record SET derived_from = ? WHERE record_id = ?", (before, record.record_id))
        assert store.verify().ok
    store.close()


def test_a_store_made_before_derived_from_gains_the_column_and_still_verifies(tmp_path: Path) -> None:
    police, social, _ = _signals()
    with open_store(None, tmp_path) as store:
        store.append([(police, LineagePosition("lineage", 0, 0)), (receipt(police), LineagePosition("lineage", 0, 1))])
    with sqlite3.connect(tmp_path / SQLITE_FILE) as db:  # as an older schakel left it
        db.execute("DROP INDEX lineage_record_type")
        db.execute("ALTER TABLE lineage_record DROP COLUMN derived_from")
    with open_store(None, tmp_path) as store:
        assert store.verify().ok
        made = bundle(police, social)
        store.append([(made, LineagePosition("lineage", 0, 2))])
        assert store.verify().ok
        assert [hop.event_id for hop in store.trace(police.event_id).derived] == [made.event_id]


def test_the_art15_report_lists_the_bundle_and_what_it_was_made_of() -> None:
    police, social, made = _signals()
    report = build_subject_report(SUBJECT_A, [police, social, made])
    zvh = next(section for section in report.partners if section.recipient == "zvh")
    bundled = [d for d in zvh.decisions if d.event_type == "SignalBundle"]
    assert len(bundled) == 1
    assert bundled[0].derived_from == made.derived_from
    assert "SignalBundle" in zvh.event_types
    html = render_subject_report_html(report)
    assert "Dit overzicht is samengesteld uit 2 signalen over u, van de politie en " in html


def test_lineage_trace_prints_the_derived_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    settings.cache_clear()
    police, social, made = _signals()
    with open_store(None, tmp_path) as store:
        store.append([(record, LineagePosition("lineage", 0, n)) for n, record in enumerate((police, social, made))])
    try:
        as_json = CliRunner().invoke(app, ["trace", str(police.event_id), "--json"])
        readable = CliRunner().invoke(app, ["trace", str(police.event_id)])
    finally:
        settings.cache_clear()
    assert as_json.exit_code == 0, as_json.output
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    derived = [row for row in rows if row.get("relation") == "derived-from"]
    assert len(derived) == 1
    assert derived[0]["event_id"] == str(made.event_id)
    assert derived[0]["event_type"] == "SignalBundle"
    assert derived[0]["derived_from"] == list(made.derived_from)
    assert readable.exit_code == 0
    assert "derived-from" in readable.stdout
    assert str(made.event_id) in readable.stdout
