"""Lineage: the tamper-evident record of every decision and delivery, and the answers compliance needs.

The hub writes one :class:`LineageRecord` per (event, candidate recipient) decision to the ``lineage`` topic and each
sink connector one per delivery receipt to its partner's ``receipts.<org>`` topic; ``schakel lineage ingest`` feeds
them into a :class:`LineageStore`
(:func:`open_store`: SQLite by default, PostgreSQL when ``SCHAKEL_LINEAGE_URL`` says so), where each record is
hash-chained per topic partition (:mod:`schakel.lineage.chain` says why). The store answers a trace, the AVG art. 15
report (in words, for the person: :mod:`schakel.lineage.readable`, as a page, a PDF letter and a JSON record) and
the disclosure register, and exports the Logboek Dataverwerkingen shape. The hub also writes a ``link``
record when an event names one person by two identifiers (a BSN and a case id), so that the answers about a person
cover every identifier the hub knows them by.

The PDF letter (``render_access_report_pdf``, ``render_subject_report_pdf``) is exported as before but imported on
first use (:mod:`schakel.exports`): it loads reportlab, which the rest of lineage and ``schakel lineage --help``
do not need.
"""

from typing import TYPE_CHECKING

from schakel.exports import deferred
from schakel.lineage.activities import load_processing_activities, processing_activity
from schakel.lineage.answers import (
    Disclosure,
    DisclosureRegister,
    Hop,
    PartnerSection,
    SubjectReport,
    TraceReport,
)
from schakel.lineage.chain import LineagePosition
from schakel.lineage.hub_records import hub_record
from schakel.lineage.pruning import Anchor, PruneResult
from schakel.lineage.pseudonym import InvalidBsnError, is_bsn, subject_pseudonym, subject_pseudonyms
from schakel.lineage.readable import (
    AccessReport,
    ConsentStep,
    PartnerAccount,
    Refusal,
    Sharing,
    access_report,
    access_report_json,
)
from schakel.lineage.record import (
    BUNDLE_RECORD_NAME,
    DELIVERY_RECEIPT_NAME,
    REQUEST_ANSWER_RECORD_NAME,
    REQUEST_CONFIRM_RECORD_NAME,
    REQUEST_RECORD_NAME,
    RETENTION_NOTICE_RECORD_NAME,
    InvalidRecordError,
    LineageError,
    LineageRecord,
    RecordKind,
    event_key,
    pack_records,
    receipt_id,
    record_id,
    recordable_purpose,
    records_from_bytes,
)
from schakel.lineage.report import render_access_report_html, render_subject_report_html
from schakel.lineage.requests import RequestState, RequestStatus, request_deadline
from schakel.lineage.retention import prune_lineage
from schakel.lineage.scan import Finding, scan_for_personal_data
from schakel.lineage.store import (
    AppendResult,
    BrokenRecord,
    ChainHead,
    LineageStore,
    StoreUnavailableError,
    UnstorableRecordError,
    VerifyResult,
    open_store,
)

if TYPE_CHECKING:
    from schakel.lineage.report_pdf import render_access_report_pdf, render_subject_report_pdf

__getattr__ = deferred(
    __name__, dict.fromkeys(("render_access_report_pdf", "render_subject_report_pdf"), "schakel.lineage.report_pdf")
)

__all__ = [
    "BUNDLE_RECORD_NAME",
    "DELIVERY_RECEIPT_NAME",
    "REQUEST_ANSWER_RECORD_NAME",
    "REQUEST_CONFIRM_RECORD_NAME",
    "REQUEST_RECORD_NAME",
    "RETENTION_NOTICE_RECORD_NAME",
    "AccessReport",
    "Anchor",
    "AppendResult",
    "BrokenRecord",
    "ChainHead",
    "ConsentStep",
    "Disclosure",
    "DisclosureRegister",
    "Finding",
    "Hop",
    "InvalidBsnError",
    "InvalidRecordError",
    "LineageError",
    "LineagePosition",
    "LineageRecord",
    "LineageStore",
    "PartnerAccount",
    "PartnerSection",
    "PruneResult",
    "RecordKind",
    "Refusal",
    "RequestState",
    "RequestStatus",
    "Sharing",
    "StoreUnavailableError",
    "SubjectReport",
    "TraceReport",
    "UnstorableRecordError",
    "VerifyResult",
    "access_report",
    "access_report_json",
    "event_key",
    "hub_record",
    "is_bsn",
    "load_processing_activities",
    "open_store",
    "pack_records",
    "processing_activity",
    "prune_lineage",
    "receipt_id",
    "record_id",
    "recordable_purpose",
    "records_from_bytes",
    "render_access_report_html",
    "render_access_report_pdf",
    "render_subject_report_html",
    "render_subject_report_pdf",
    "request_deadline",
    "scan_for_personal_data",
    "subject_pseudonym",
    "subject_pseudonyms",
]
