"""The lineage store on SQLite and PostgreSQL: idempotent appends, the hash chain, and the answers."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from schakel.lineage import (
    LineagePosition,
    LineageStore,
    RecordKind,
    UnstorableRecordError,
    open_store,
)
from schakel.lineage.store import SQLITE_FILE
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, T0, decision, receipt

TOPIC = "schakel.lineage"


def _at(partition: int, offset: int) -> LineagePosition:
    return LineagePosition(TOPIC, partition, offset)


def test_append_is_idempotent_on_replay(store: LineageStore) -> None:
    records = [decision(recipient=r) for r in ("politie", "om", "ggz")]
    batch = [(record, _at(0, offset)) for offset, record in enumerate(records)]
    assert store.append(batch).appended == 3
    heads = store.heads()
    again = store.append(batch)
    assert (again.appended, again.duplicates) == (0, 3)
    assert store.count() == 3
    assert store.heads() == heads
    assert store.verify().ok


def test_a_record_re_emitted_at_a_new_offset_is_stored_once(store: LineageStore) -> None:
    record = decision()
    store.append([(record, _at(0, 0))])
    result = store.append([(record, _at(0, 7))])
    assert (result.appended, result.duplicates) == (0, 1)
    assert store.count() == 1
    assert store.verify().ok


def test_chains_are_per_partition(store: LineageStore) -> None:
    store.append([(decision(), _at(0, 0)), (decision(), _at(1, 0)), (decision(), _at(1, 1)), (decision(), None)])
    heads = store.heads()
    assert {chain: head.next_seq for chain, head in heads.items()} == {
        f"{TOPIC}#0": 1,
        f"{TOPIC}#1": 2,
        "local": 1,
    }
    result = store.verify()
    assert result.ok
    assert (result.checked, result.chains) == (4, 3)


def test_trace_lists_every_hop_in_time_order(store: LineageStore) -> None:
    event_id = uuid4()
    to_police = decision(event_id=event_id, recipient="politie", fields_withheld=("ideology",))
    to_ggz = decision(event_id=event_id, recipient="ggz", outcome="deny", fields_withheld=("urgency",))
    delivered = receipt(to_police)
    store.append([(delivered, _at(0, 2)), (to_ggz, _at(0, 1)), (to_police, _at(0, 0)), (decision(), _at(0, 3))])
    trace = store.trace(event_id)
    assert trace.found
    assert [(hop.kind, hop.recipient) for hop in trace.hops] == [
        (RecordKind.DECISION, "ggz"),
        (RecordKind.DECISION, "politie"),
        (RecordKind.RECEIPT, "politie"),
    ]
    police = trace.hops[1]
    assert police.fields_sent == ("urgency", "observed_behaviour")
    assert police.fields_withheld == ("ideology",)
    assert trace.trace_ids == (event_id.hex,)
    assert trace.hops[0].outcome == "deny"
    assert not store.trace(uuid4()).found


def test_disclosure_register_for_one_partner_since_a_date(store: LineageStore) -> None:
    old = decision(recipient="om", at=T0 - timedelta(days=30))
    recent = decision(recipient="om", at=T0)
    denied = decision(recipient="om", outcome="deny", at=T0)
    other = decision(recipient="politie", at=T0)
    store.append([(r, None) for r in (old, recent, receipt(recent), denied, other)])
    register = store.disclosures("om", T0 - timedelta(days=1))
    assert [d.event_id for d in register.disclosures] == [recent.event_id]
    assert register.disclosures[0].delivery == "delivered"
    everything = store.disclosures("om")
    assert {d.event_id for d in everything.disclosures} == {old.event_id, recent.event_id}


def test_subject_report_keeps_other_people_out(store: LineageStore) -> None:
    mine = decision(subject=SUBJECT_A, recipient="politie")
    theirs = decision(subject=SUBJECT_B, recipient="om", fields_sent=("iban",))
    store.append([(mine, None), (theirs, None), (receipt(theirs), None)])
    report = store.subject_report(SUBJECT_A)
    assert [p.recipient for p in report.partners] == ["politie"]
    assert report.records == 1
    assert "iban" not in report.model_dump_json()


def test_export_is_logboek_json_lines(store: LineageStore) -> None:
    records = [decision(), decision(recipient="om")]
    store.append([(records[0], _at(0, 0)), (records[1], _at(0, 1)), (receipt(records[0]), _at(0, 2))])
    out = io.StringIO()
    assert store.export_logboek(out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["attributes"]["schakel.record_id"] for line in lines] == [
        records[0].record_id,
        records[1].record_id,
        receipt(records[0]).record_id,
    ]
    assert all(line["attributes"]["dpl.core.data_subject_id"] == SUBJECT_A for line in lines)


@pytest.mark.postgres
def test_sqlite_and_postgresql_store_identical_chains(store_factory: Callable[[str], LineageStore]) -> None:
    batch = [(decision(recipient=r), _at(i % 2, i)) for i, r in enumerate(["politie", "om", "ggz", "rvdk", "zvh"])]
    sqlite, postgres = store_factory("sqlite"), store_factory("postgresql")
    sqlite.append(batch)
    postgres.append(batch)
    assert sqlite.heads() == postgres.heads()
    assert list(sqlite.raw_rows()) == list(postgres.raw_rows())


def test_a_failed_write_stores_nothing_and_says_so(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        store.append([(decision(), _at(0, 0))])
        heads = store.heads()
        raw = sqlite3.connect(tmp_path / SQLITE_FILE)
        raw.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON lineage_record WHEN NEW.recipient = 'om' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        raw.commit()
        with pytest.raises(UnstorableRecordError, match="nothing of this batch was stored"):
            store.append([(decision(recipient="politie"), _at(0, 1)), (decision(recipient="om"), _at(0, 2))])
        assert store.count() == 1
        assert store.heads() == heads
        raw.execute("DROP TRIGGER refuse")
        raw.commit()
        assert store.append([(decision(recipient="om"), _at(0, 2))]).appended == 1
        assert store.verify().ok


def test_a_delivered_receipt_counts_even_when_the_stored_decision_is_a_deny(store: LineageStore) -> None:
    # The hub re-emitted a decision that came out otherwise; the first one stored (deny) is kept.
    permitted = decision(recipient="om")
    denied = permitted.model_copy(update={"outcome": "deny", "fields_sent": ()})
    store.append([(denied, None), (receipt(permitted), None)])
    report = store.subject_report(SUBJECT_A)
    (section,) = report.partners
    assert section.event_types == ("Signal",)
    assert section.fields_shared == tuple(sorted(permitted.fields_sent))
    (disclosure,) = store.disclosures("om").disclosures
    assert (disclosure.outcome, disclosure.delivery) == ("deny", "delivered")


def test_disclosures_since_a_time_between_a_decision_and_its_receipt(store: LineageStore) -> None:
    made = decision(recipient="om", at=T0)
    later = decision(recipient="om", at=T0 + timedelta(minutes=5))
    store.append([(made, None), (receipt(made, after=timedelta(minutes=2)), None), (later, None)])
    between = store.disclosures("om", T0 + timedelta(minutes=1))
    # Decided before the time: not listed, even though its receipt came after it.
    assert [d.event_id for d in between.disclosures] == [later.event_id]
    before = store.disclosures("om", T0 - timedelta(minutes=1))
    first = before.disclosures[0]
    assert (first.event_id, first.outcome, first.delivery) == (made.event_id, "permit", "delivered")
    assert first.decided_at == made.end_time
