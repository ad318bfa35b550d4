"""The Logboek Dataverwerkingen export against the standard's required fields - receipts and links included."""

from __future__ import annotations

import io
import json

from schakel.lineage import LineageStore
from tests.lineage import logboek_standard
from tests.lineage.factory import SUBJECT_A, decision, link, receipt

CASE = "c" * 32


def test_every_exported_record_carries_the_required_fields(store: LineageStore) -> None:
    made = decision()
    # A receipt as the sink connectors wrote them before they named a processing activity.
    old_receipt = receipt(made).model_copy(update={"processing_activity_id": None})
    orphan = receipt(decision(recipient="om", purpose="money-mule-prevention")).model_copy(
        update={"processing_activity_id": None}
    )
    denied = decision(recipient="ggz", outcome="deny")
    store.append([(r, None) for r in (made, old_receipt, orphan, denied, link(subject=SUBJECT_A, case_subject=CASE))])
    out = io.StringIO()
    assert store.export_logboek(out) == 5
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {i: logboek_standard.problems(line) for i, line in enumerate(lines)} == {i: [] for i in range(5)}
    by_id = {line["attributes"]["schakel.record_id"]: line["attributes"] for line in lines}
    # A receipt carries the processing activity of the decision it belongs to ...
    assert by_id[old_receipt.record_id]["dpl.core.processing_activity_id"] == made.processing_activity_id
    # ... and without one stored, the register's activity for its purpose.
    assert by_id[orphan.record_id]["dpl.core.processing_activity_id"].endswith(":preventie-geldezels")


def test_the_check_finds_a_missing_field() -> None:
    line = decision().to_logboek()
    assert logboek_standard.problems(line) == []
    line["attributes"]["dpl.core.processing_activity_id"] = None
    line["status"] = "fine"
    assert logboek_standard.problems(line) == [
        "dpl.core.processing_activity_id missing",
        "status is not in the standard's enum",
        "dpl.core.processing_activity_id is not a URI",
    ]
