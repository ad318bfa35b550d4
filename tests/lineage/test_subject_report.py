"""The AVG art. 15 report: exactly what was shared about one person, with whom - and nothing about anyone else."""

from __future__ import annotations

import json
from datetime import timedelta

from schakel.lineage import LineagePosition, LineageStore, render_subject_report_html
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, T0, decision, receipt


def _fill(store: LineageStore) -> dict[str, object]:
    to_police = decision(recipient="politie", fields_withheld=("ideology",), at=T0)
    to_om = decision(recipient="om", fields_sent=("urgency",), purpose="case-consultation", at=T0 + timedelta(hours=1))
    to_ggz = decision(recipient="ggz", outcome="deny", fields_withheld=("urgency", "observed_behaviour"), at=T0)
    lost = decision(recipient="rvdk", fields_sent=("youth_context",), at=T0 + timedelta(hours=2))
    # Someone else's lineage, sharing partners, fields and times with the person asking.
    other = [
        decision(subject=SUBJECT_B, recipient="politie", fields_sent=("iban", "fraud_type"), at=T0),
        decision(subject=SUBJECT_B, recipient="reclassering", fields_sent=("contribution",), at=T0),
    ]
    records = [to_police, receipt(to_police), to_om, to_ggz, lost, receipt(lost, outcome="dead-lettered"), *other]
    store.append([(r, LineagePosition("schakel.lineage", i % 2, i)) for i, r in enumerate(records)])
    return {"police": to_police, "om": to_om, "ggz": to_ggz, "rvdk": lost}


def test_report_lists_exactly_what_was_shared_and_with_whom(store: LineageStore) -> None:
    _fill(store)
    report = store.subject_report(SUBJECT_A)
    partners = {p.recipient: p for p in report.partners}
    assert set(partners) == {"politie", "om", "ggz", "rvdk"}
    police, om, ggz, rvdk = partners["politie"], partners["om"], partners["ggz"], partners["rvdk"]
    assert police.fields_shared == ("observed_behaviour", "urgency")
    assert police.fields_withheld == ("ideology",)
    assert police.event_types == ("Signal",)
    assert police.legal_bases == ("AVG 10", "AVG 6(1)(e)")
    assert police.purposes == ("cter-person-centred",)
    assert police.first_shared == T0 + timedelta(milliseconds=3)
    assert police.decisions[0].delivery == "delivered"
    assert om.fields_shared == ("urgency",)
    assert om.purposes == ("case-consultation",)
    assert om.decisions[0].delivery == "pending"
    assert ggz.fields_shared == ()
    assert ggz.fields_withheld == ("observed_behaviour", "urgency")
    assert ggz.decisions[0].outcome == "deny"
    assert rvdk.fields_shared == ()  # decided, but the delivery was dead-lettered: it never reached them
    assert rvdk.decisions[0].delivery == "dead-lettered"
    assert report.records == 6


def test_report_says_nothing_about_anyone_else(store: LineageStore) -> None:
    _fill(store)
    text = store.subject_report(SUBJECT_A).model_dump_json()
    assert SUBJECT_B not in text
    assert "reclassering" not in text
    assert "iban" not in text
    assert "fraud_type" not in text
    other = store.subject_report(SUBJECT_B)
    assert {p.recipient for p in other.partners} == {"politie", "reclassering"}
    assert SUBJECT_A not in other.model_dump_json()


def test_report_for_someone_without_lineage_is_empty(store: LineageStore) -> None:
    _fill(store)
    report = store.subject_report("c" * 64)
    assert report.partners == ()
    assert report.records == 0
    assert "geen gegevens" in render_subject_report_html(report)


def test_html_report_names_the_partners_from_the_one_translation_table(store: LineageStore) -> None:
    _fill(store)
    report = store.subject_report(SUBJECT_A)
    page = render_subject_report_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    for partner in report.partners:
        assert partner.recipient_name in page
    assert [p.recipient_name for p in report.partners] == [
        "De GGZ-instelling (geestelijke gezondheidszorg)", "Het Openbaar Ministerie", "De politie",
        "De Raad voor de Kinderbescherming",
    ]  # fmt: skip
    assert "De reclassering" not in page  # the other person's partner
    assert json.loads(report.model_dump_json())["data_subject_id"] == SUBJECT_A
