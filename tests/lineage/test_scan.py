"""``scan_for_personal_data``: finds BSNs, listed names and free text anywhere in the store, and nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from schakel.lineage import LineagePosition, is_bsn, open_store, scan_for_personal_data
from schakel.lineage.scan import scan_rows
from schakel.lineage.store import SQLITE_FILE
from tests.lineage.factory import decision, receipt


def test_the_11_test() -> None:
    assert is_bsn("111222333")
    assert is_bsn("123456782")
    assert not is_bsn("123456789")
    assert not is_bsn("000000000")
    assert not is_bsn("12345678")
    assert not is_bsn("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff12")  # full-width digits: not a BSN


def test_a_clean_store_has_no_findings(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        records = [
            decision(recipient=r, fields_withheld=("ideology", "lvb_indication"), reasons=("consent-missing",))
            for r in ("politie", "om", "ggz", "rvdk", "reclassering")
        ]
        store.append([(r, LineagePosition("schakel.lineage", 0, i)) for i, r in enumerate(records)])
        store.append([(receipt(records[0]), None)])
        assert scan_for_personal_data(store, names=["Jansen", "Fatima"]) == []


def test_personal_data_smuggled_into_the_store_is_found(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        a, b, c = decision(), decision(recipient="om"), decision(recipient="ggz")
        store.append([(a, None), (b, None), (c, None)])
        raw = sqlite3.connect(tmp_path / SQLITE_FILE)
        raw.execute("UPDATE lineage_record SET rule = 'rule for 111222333' WHERE record_id = ?", (a.record_id,))
        raw.execute("UPDATE lineage_record SET sender = 'Pieter Jansen' WHERE record_id = ?", (b.record_id,))
        raw.execute(
            "UPDATE lineage_record SET reasons = ? WHERE record_id = ?",
            ('["consent-missing","de cliënt vertelde dat hij al weken niet slaapt"]', c.record_id),
        )
        raw.commit()
        findings = scan_for_personal_data(store, names=["jansen"])
        assert {(f.record_id, f.column, f.kind) for f in findings} == {
            (a.record_id, "rule", "bsn"),
            (b.record_id, "sender", "name"),
            (c.record_id, "reasons", "free-text"),
        }
        assert all("111222333" not in repr(f) and "Jansen" not in repr(f) for f in findings)


def test_numbers_that_fail_the_11_test_or_sit_inside_tokens_are_not_bsns() -> None:
    rows = [
        {"record_id": "r1", "a": "123456789", "b": "ab111222333cd", "c": "1112223334", "d": "x" * 64},
        {"record_id": "r2", "fields_sent": '["observed_behaviour","ideology","lvb_indication","youth_context"]'},
        {"record_id": "r3", "name": "Janssen-Fatimaweg", "rule": "cter-signal-to-police"},
    ]
    assert scan_rows(rows, names=["Fatima", "Jansen"]) == []


def test_a_listed_name_spelled_as_a_slug_is_found() -> None:
    rows = [
        {"record_id": "r1", "purpose": "jan-jansen-cases"},
        {"record_id": "r2", "rule": "jan_jansen"},
        {"record_id": "r3", "purpose": "case-consultation", "rule": "janjansen-free"},
    ]
    findings = scan_rows(rows, names=["Jan Jansen"])
    assert {(f.record_id, f.column, f.kind) for f in findings} == {("r1", "purpose", "name"), ("r2", "rule", "name")}
