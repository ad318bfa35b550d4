"""Complete answers for a person: the report, the register and the export follow the hub's links from a BSN's
pseudonym to the person's case-keyed records, and say how many records they read from which kind of identifier."""

from __future__ import annotations

import io
import json
from uuid import uuid4

from schakel.lineage import LineageStore, render_subject_report_html
from tests.lineage.factory import SUBJECT_A, SUBJECT_B, decision, link, receipt

CASE_1 = "c1" * 16
CASE_2 = "c2" * 16


def _one_person_four_events(store: LineageStore) -> int:
    """Two events with the BSN and the case id (each linking them), two with only the case id."""
    records = []
    for with_bsn in (True, True, False, False):
        event_id = uuid4()
        subject, key = (SUBJECT_A, "bsn") if with_bsn else (CASE_1, "case")
        for recipient, outcome in (("politie", "permit"), ("om", "partial"), ("ggz", "deny")):
            made = decision(event_id=event_id, recipient=recipient, outcome=outcome, subject=subject, subject_key=key)
            records.append(made)
            if outcome != "deny":
                records.append(receipt(made))
        if with_bsn:
            records.append(link(subject=SUBJECT_A, case_subject=CASE_1, event_id=event_id))
    records.append(decision(subject=SUBJECT_B))  # someone else
    store.append([(record, None) for record in records])
    return 4 * 5


def test_the_report_covers_the_case_keyed_events_of_the_person(store: LineageStore) -> None:
    expected = _one_person_four_events(store)
    report = store.subject_report(SUBJECT_A)
    assert report.records == expected
    assert report.records_by_identifier == {"bsn": 10, "case": 10}
    assert report.pseudonyms_by_identifier == {"bsn": 1, "case": 1}
    assert report.links == 2
    assert set(report.data_subject_ids) == {SUBJECT_A, CASE_1}
    delivered = [d for p in report.partners for d in p.decisions if d.delivery == "delivered"]
    assert len(delivered) == 8
    text = report.model_dump_json()
    assert SUBJECT_B not in text


def test_links_are_followed_transitively_from_any_identifier(store: LineageStore) -> None:
    _one_person_four_events(store)
    second_case = decision(subject=CASE_2, subject_key="case")
    store.append([(link(subject=SUBJECT_A, case_subject=CASE_2), None), (second_case, None)])
    assert set(store.person(CASE_1)) == {CASE_1, SUBJECT_A, CASE_2}
    report = store.subject_report(CASE_1)
    assert report.records == 21
    assert report.pseudonyms_by_identifier == {"bsn": 1, "case": 2}
    assert store.person(SUBJECT_B) == (SUBJECT_B,)


def test_disclosures_and_export_about_one_person_follow_links(store: LineageStore) -> None:
    _one_person_four_events(store)
    register = store.disclosures("politie", person=[SUBJECT_A])
    assert len(register.disclosures) == 4
    assert len(store.disclosures("politie").disclosures) == 5  # and the other person's
    out = io.StringIO()
    written = store.export_logboek(out, person=[SUBJECT_A])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(lines) == 22  # 20 decisions and receipts, and the 2 links
    assert {line["attributes"]["dpl.core.data_subject_id"] for line in lines} == {SUBJECT_A, CASE_1}


def test_the_readable_report_says_under_which_identifiers_it_found_records(store: LineageStore) -> None:
    _one_person_four_events(store)
    page = render_subject_report_html(store.subject_report(SUBJECT_A))
    assert "uit 20 registraties (10 via uw burgerservicenummer, 10 via zaaknummers)" in page
    assert CASE_1 not in page
