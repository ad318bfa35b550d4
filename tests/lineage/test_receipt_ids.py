"""Delivery receipts carry their outcome in their id (a copy dead-lettered, resent and delivered has a receipt of
each), receipts stored before that stay valid, and a person's report says a resent copy was delivered, whatever order
the store gives the receipts in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schakel.lineage import LineageRecord, receipt_id
from schakel.lineage.answers import build_subject_report
from tests.lineage.factory import SUBJECT_A, decision, receipt


def _with_id(record: LineageRecord, outcome: str, source: tuple[int, int] | None) -> LineageRecord:
    """The receipt as the sink writes it now: the outcome (and a dead letter's egress position) in its id."""
    data = record.model_dump()
    data.update(
        source_partition=source[0] if source else None,
        source_offset=source[1] if source else None,
        source_topic="schakel.egress.politie" if source else None,
        record_id=receipt_id(record.sender, record.event_id, record.data_subject_id, record.recipient, outcome, source),
    )
    return LineageRecord.model_validate(data)


def test_a_delivery_after_a_resend_counts_over_the_dead_letter_in_any_order() -> None:
    decided = decision()
    dead = _with_id(receipt(decided, outcome="dead-lettered"), "dead-lettered", (0, 3))
    delivered = _with_id(receipt(decided, after=timedelta(hours=2)), "delivered", (0, 9))
    assert len({decided.record_id, dead.record_id, delivered.record_id}) == 3
    for records in ([decided, dead, delivered], [decided, delivered, dead], [delivered, dead, decided]):
        [partner] = build_subject_report(SUBJECT_A, records).partners
        [disclosure] = partner.decisions
        assert disclosure.delivery == "delivered"
        assert disclosure.delivered_at == delivered.end_time


def test_a_receipt_id_is_deterministic_and_receipts_stored_before_stay_valid() -> None:
    decided = decision()
    legacy = receipt(decided, outcome="dead-lettered")  # ".../receipt", as every receipt was stored before
    assert legacy.record_id.endswith("/receipt")
    assert LineageRecord.from_bytes(legacy.to_bytes()) == legacy
    first = _with_id(legacy, "dead-lettered", (1, 7))
    assert first.record_id == _with_id(legacy, "dead-lettered", (1, 7)).record_id  # the same record read again
    assert first.record_id != _with_id(legacy, "dead-lettered", (1, 8)).record_id  # a resend is a new record
    assert LineageRecord.from_bytes(first.to_bytes()) == first


@pytest.mark.parametrize(
    "wrong",
    [
        lambda r: r.record_id.replace("/dead-lettered/1-7", "/delivered"),  # says delivered, was a dead letter
        lambda r: r.record_id.replace("/1-7", "/1-8"),  # another egress record's position
        lambda r: r.record_id + "/x",
    ],
)
def test_a_receipt_id_that_does_not_match_its_record_is_refused(wrong: object) -> None:
    first = _with_id(receipt(decision(), outcome="dead-lettered"), "dead-lettered", (1, 7))
    data = first.model_dump()
    data["record_id"] = wrong(first)  # type: ignore[operator]
    with pytest.raises(ValueError, match="record_id"):
        LineageRecord.model_validate(data)
