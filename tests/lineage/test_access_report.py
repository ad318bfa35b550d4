"""The art. 15 report as the person reads it: in words, never in codes - on the page, in the PDF and its summary."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID

import pytest

from schakel.consent import load_covenants
from schakel.lineage import (
    LineageRecord,
    access_report,
    access_report_json,
    render_access_report_html,
    render_access_report_pdf,
)
from schakel.lineage.answers import build_subject_report
from schakel.lineage.wording import wording
from tests.lineage.factory import SUBJECT_A, T0, decision, receipt, request_received
from tests.lineage.histories import every_code, full_history

# Codes that are also the ordinary Dutch words the page uses for them ("de politie", "de reclassering", "het plan
# van aanpak", "aanpak van geldezels") or a Dutch word the page needs ("om ... te").
_ALSO_DUTCH = {"politie", "reclassering", "plan", "geldezels", "om"}
_IDENTIFIER = [
    re.compile(r"[0-9a-f]{12,}"),  # pseudonyms, covenant versions, trace and span ids
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"),  # event ids
    re.compile(r"\b\w+_\w+\b"),  # field names, bundle reasons
    re.compile(r"\b[a-z]+[A-Z]\w*"),  # camelCase
    re.compile(r"\b[A-Z][a-z]+[A-Z]\w*"),  # event types (CamelCase)
    re.compile(r"@"),
]


class _Text(HTMLParser):
    """The text a reader sees: everything but the style sheet."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag = tag

    def handle_data(self, data: str) -> None:
        if self.tag != "style":
            self.text.append(data)


def _page_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.text).replace("\u00a0", " ").split())


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "inzage.pdf"
    path.write_bytes(pdf)
    tool = shutil.which("pdftotext")
    assert tool is not None, "pdftotext (poppler-utils) is installed by deploy/system-packages.sh"
    return subprocess.run([tool, "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True).stdout


@cache
def _code_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    patterns = []
    for kind, codes in every_code().items():
        words = "|".join(re.escape(code) for code in sorted(codes - _ALSO_DUTCH, key=len, reverse=True))
        patterns.append((kind, re.compile(rf"(?<![\w-])({words})(?![\w-])")))
    return tuple(patterns)


def codes_in(text: str) -> list[str]:
    """Every catalogue code or identifier found in the text (whole words, case as the code is spelt)."""
    found = [f"{kind} {m.group(1)!r}" for kind, pattern in _code_patterns() for m in pattern.finditer(text)]
    found += [f"identifier {m.group(0)!r}" for pattern in _IDENTIFIER for m in pattern.finditer(text)]
    return found


def test_the_generated_history_uses_every_code_there_is() -> None:
    history = full_history()
    used = {r.event_type for r in history}, {r.purpose for r in history}, {b for r in history for b in r.legal_basis}
    codes = every_code()
    assert used == (codes["event type"], codes["purpose"], codes["legal basis"])
    assert {x for r in history for x in r.reasons} == codes["reason"]
    assert {r.covenant_id for r in history} - {None} == {c.id for c in load_covenants()}
    assert {f for r in history for f in (*r.fields_sent, *r.fields_withheld)} == {
        f for f in codes["field"] if "." in f or f not in {"bsn", "name", "birth_date"}
    }
    assert {r.recipient for r in history} | {r.sender for r in history} == codes["organisation"]


def test_no_code_reaches_the_page() -> None:
    report = access_report(build_subject_report(SUBJECT_A, full_history(), now=T0 + timedelta(days=30)))
    assert report.untranslated == ()
    text = _page_text(render_access_report_html(report))
    assert codes_in(text) == []
    assert "uw naam" in text
    assert "uw burgerservicenummer (BSN)" in text
    assert "informatie over uw gezondheid" in text


def test_no_code_reaches_the_letter(tmp_path: Path) -> None:
    report = access_report(build_subject_report(SUBJECT_A, full_history(), now=T0 + timedelta(days=30)))
    pdf = render_access_report_pdf(report)
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf  # the font is embedded, not looked up on the reader's machine
    text = _pdf_text(pdf, tmp_path)
    assert codes_in(" ".join(text.split())) == []
    assert "níet" in text  # Dutch characters survive the embedded font
    assert "geïnformeerd" in text


def test_the_check_finds_a_code_when_one_slips_through() -> None:
    found = codes_in("Gedeeld: observed_behaviour onder cter-person-centred, convenant cter@d8bcdbbb3efb / 14")
    assert {"field 'observed_behaviour'", "purpose 'cter-person-centred'", "identifier '@'"} <= set(found)
    assert any("d8bcdbbb3efb" in f for f in found)
    assert codes_in("een InformationContribution van gemeente-sociaal, AVG 6(1)(e)") == [
        "event type 'InformationContribution'",
        "legal basis 'AVG 6(1)(e)'",
        "organisation 'gemeente-sociaal'",
        "identifier 'InformationContribution'",
    ]
    assert codes_in("Het Openbaar Ministerie heeft uw naam gekregen om u te helpen.") == []


def _sharing_then_refusal() -> list[LineageRecord]:
    first = decision(
        event_id=UUID(int=1),
        recipient="om",
        fields_sent=("subject.name", "urgency", "ideology"),
        purpose="cter-person-centred",
        at=T0,
    ).model_copy(update={"covenant_id": "cter", "covenant_version": "0123456789ab", "rule": "3"})
    later = decision(
        event_id=UUID(int=2),
        recipient="om",
        outcome="deny",
        fields_withheld=("subject.name", "urgency", "ideology", "observed_behaviour"),
        reasons=("consent-withdrawn",),
        at=T0 + timedelta(days=3),
    )
    return [first, receipt(first), later]


def test_a_field_shared_once_is_never_listed_as_never_shared() -> None:
    section = build_subject_report(SUBJECT_A, _sharing_then_refusal()).partners[0]
    assert section.fields_shared == ("ideology", "subject.name", "urgency")
    assert section.fields_withheld == ("observed_behaviour",)
    account = access_report(build_subject_report(SUBJECT_A, _sharing_then_refusal())).partners[0]
    assert [label.code for label in account.never_shared_data] == ["Signal.observed_behaviour"]
    (refusal,) = account.not_shared
    assert {label.code for label in refusal.data} >= {"Signal.ideology", "Signal.observed_behaviour"}
    assert [r.code for r in refusal.reasons] == ["consent-withdrawn"]
    text = _page_text(
        render_access_report_html(access_report(build_subject_report(SUBJECT_A, _sharing_then_refusal())))
    )
    assert "nooit gekregen: een beschrijving van gedrag dat is gezien (strafrechtelijke informatie)." in text
    assert "U had uw toestemming hiervoor ingetrokken." in text


def test_the_page_says_what_why_on_which_basis_and_under_which_agreement() -> None:
    report = access_report(build_subject_report(SUBJECT_A, _sharing_then_refusal(), now=T0 + timedelta(days=5)))
    text = _page_text(render_access_report_html(report))
    table = wording()
    assert "Het Openbaar Ministerie heeft op 2 november 2026 één keer gegevens over u gekregen." in text
    assert "2 november 2026 om 10:30: een signaal (een melding van zorgen over u), van de gemeente" in text
    assert (
        "Gedeeld: uw naam, hoe dringend de zorgen zijn en informatie over uw overtuiging of levensbeschouwing." in text
    )
    assert table.purposes["cter-person-centred"].description.nl in text
    for basis in ("AVG 6(1)(e)", "AVG 10"):
        assert table.legal_bases[basis].name.nl[1:] in text
        assert table.legal_bases[basis].explanation.nl in text
    assert "Afspraak: " + table.covenants["cter"].nl in text
    assert text.index("Wat is niet gedeeld") > text.index("Gedeeld:")


def test_a_basis_is_explained_once_where_the_person_first_meets_it() -> None:
    records = _sharing_then_refusal()[:2]
    again = records[0].model_copy(
        update={"event_id": UUID(int=3), "start_time": T0 + timedelta(days=1), "end_time": T0 + timedelta(days=1)}
    )
    report = access_report(build_subject_report(SUBJECT_A, [*records, again]))
    text = _page_text(render_access_report_html(report))
    explanation = wording().legal_bases["AVG 10"].explanation.nl
    assert text.count(explanation) == 1
    assert "(hierboven uitgelegd)" in text


def test_a_code_without_words_reads_in_general_words_and_is_named_for_the_contact_point() -> None:
    # The factory's covenant is not a shipped one: a covenant retired before this table, say.
    report = access_report(build_subject_report(SUBJECT_A, [decision(purpose="case-consultation")]))
    assert report.untranslated == ("covenants:cter-noord-holland",)
    text = _page_text(render_access_report_html(report))
    assert "Afspraak: een convenant van het samenwerkingsverband." in text
    assert codes_in(text) == []
    assert "cter-noord-holland" not in text


def test_the_page_escapes_the_words_of_the_table() -> None:
    table = wording()
    sneaky = table.model_copy(
        update={
            "fields": {
                **table.fields,
                "Signal.urgency": table.fields["Signal.urgency"].model_copy(update={"nl": "<b>x</b>"}),
            }
        }
    )
    report = access_report(build_subject_report(SUBJECT_A, [decision(fields_sent=("urgency",))]), sneaky)
    page = render_access_report_html(report).split("</style>", 1)[1]
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert render_access_report_pdf(report).startswith(b"%PDF")  # reportlab's markup is escaped too


def test_a_reason_a_record_should_never_carry_does_not_reach_the_page() -> None:
    data = {**decision(outcome="deny").model_dump(), "reasons": ("<script>alert(1)</script>",)}
    report = access_report(build_subject_report(SUBJECT_A, [LineageRecord.model_construct(**data)]))
    page = render_access_report_html(report)
    assert "script" not in page.split("</style>", 1)[1]
    assert report.untranslated == ("reasons:<script>alert(1)</script>",)


def test_the_json_record_has_its_documented_keys() -> None:
    report = access_report(build_subject_report(SUBJECT_A, _sharing_then_refusal(), now=T0 + timedelta(days=5)))
    record = json.loads(access_report_json(report))
    assert set(record) == {
        "format", "reference", "data_subject_id", "data_subject_ids", "generated_at", "records",
        "records_by_identifier", "partners", "consent", "requests", "untranslated",
    }  # fmt: skip
    assert record["format"] == "schakel.art15/1"
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", record["reference"])
    assert SUBJECT_A[:12] not in record["reference"]
    (partner,) = record["partners"]
    assert set(partner) == {
        "organisation", "shared_data", "never_shared_data", "first_shared", "last_shared", "shared", "not_shared",
    }  # fmt: skip
    assert partner["organisation"] == {
        "code": "om",
        "nl": "het Openbaar Ministerie",
        "en": "the Public Prosecution Service",
    }
    (sharing,) = partner["shared"]
    assert set(sharing) == {
        "event_id", "at", "delivered_at", "delivery", "message", "sender", "data", "purpose", "legal_bases",
        "covenant", "withheld", "notes",
    }  # fmt: skip
    assert sharing["purpose"]["code"] == "cter-person-centred"
    assert [b["code"] for b in sharing["legal_bases"]] == ["AVG 6(1)(e)", "AVG 10"]
    assert sharing["covenant"]["code"] == "cter"
    assert set(partner["not_shared"][0]) == {"event_id", "at", "message", "sender", "data", "reasons"}


@pytest.mark.parametrize("delivery", ["dead-lettered", "pending"])
def test_a_delivery_that_failed_is_not_shared_and_one_unconfirmed_is(delivery: str) -> None:
    sent = decision(recipient="rvdk", fields_sent=("youth_context",))
    records = [sent, receipt(sent, outcome=delivery)] if delivery == "dead-lettered" else [sent]
    (account,) = access_report(build_subject_report(SUBJECT_A, records)).partners
    if delivery == "dead-lettered":
        assert account.shared == ()
        assert [r.code for r in account.not_shared[0].reasons] == ["dead-lettered"]
    else:
        assert account.not_shared == ()
        assert account.shared[0].delivery.nl == "verstuurd (ontvangst nog niet bevestigd)"


def test_a_withdrawal_reads_as_what_it_did() -> None:
    passed_on = decision(
        recipient="politie",
        sender="zvh",
        event_type="ConsentChange",
        fields_sent=("change", "grantees"),
        at=T0,
    )
    stopped = decision(
        recipient="politie",
        sender="gemeente-sociaal",
        outcome="deny",
        fields_withheld=("observed_behaviour", "urgency"),
        reasons=("consent-withdrawn",),
        at=T0 + timedelta(days=2),
    )
    other_denial = decision(recipient="ggz", outcome="deny", fields_withheld=("urgency",), reasons=("no-rule",))
    report = access_report(build_subject_report(SUBJECT_A, [passed_on, receipt(passed_on), stopped, other_denial]))
    assert [(c.step.code, c.organisation.code) for c in report.consent] == [
        ("passed-on", "politie"),
        ("consent-withdrawn", "politie"),
    ]
    text = _page_text(render_access_report_html(report))
    assert (
        "Uw toestemming 2 november 2026: de politie kreeg bericht dat u toestemming gaf of introk (van het Zorg- en "
        "Veiligheidshuis). 4 november 2026: een signaal (een melding van zorgen over u) van de gemeente (zorg en "
        "ondersteuning) is níet gedeeld met de politie, omdat u uw toestemming had ingetrokken."
    ) in text
    assert codes_in(text) == []


def test_without_consent_steps_there_is_no_consent_list() -> None:
    report = access_report(build_subject_report(SUBJECT_A, _sharing_then_refusal()[:2]))
    assert report.consent == ()
    assert "Uw toestemming" not in render_access_report_html(report)


def test_a_person_without_lineage_gets_a_letter_that_says_so(tmp_path: Path) -> None:
    report = access_report(build_subject_report(SUBJECT_A, []))
    assert report.partners == ()
    assert report.consent == ()
    text = " ".join(_pdf_text(render_access_report_pdf(report), tmp_path).split())
    assert "geen gegevens over u met andere organisaties gedeeld" in text
    assert "In het kort" not in text


def test_a_reason_without_words_is_left_out_beside_data_that_was_shared() -> None:
    sent = decision(fields_sent=("urgency",), reasons=("permitted",))
    delivered = receipt(sent).model_copy(update={"reasons": ("DeliveryTimeout",)})
    report = access_report(build_subject_report(SUBJECT_A, [delivered]))  # the receipt alone: its decision is lost
    (sharing,) = report.partners[0].shared
    assert sharing.notes == ()
    assert "reasons:DeliveryTimeout" in report.untranslated
    assert "niet toegestaan" not in render_access_report_html(report)


def _requests_and_a_notice() -> list[LineageRecord]:
    """An erasure the police confirmed, an access request answered, and the police told its data must go."""
    from schakel.lineage.requests import answer_record
    from schakel.retention.job import notice_record
    from schakel.schemas import RetentionReason
    from schakel.settings import Settings

    request, access = UUID(int=1), UUID(int=2)
    history: list[LineageRecord] = []
    for number, (event_id, asked) in enumerate(((request, "erasure"), (access, "access"))):
        history.append(request_received(event_id, T0 + timedelta(days=1 + number), asked))
    history.append(answer_record(history[-1], T0 + timedelta(days=3)))
    history.append(
        LineageRecord(
            record_id=f"politie/{request}/{SUBJECT_A}/zvh/receipt",
            kind="receipt",
            name="schakel.subject.request.confirm",
            status="ok",
            start_time=T0 + timedelta(days=4),
            end_time=T0 + timedelta(days=4),
            event_id=request,
            event_type="SubjectRequest",
            sender="politie",
            recipient="zvh",
            outcome="confirmed",
            purpose="case-consultation",
            data_subject_id=SUBJECT_A,
            data_subject_key="bsn",
        )
    )
    due, now = T0 + timedelta(days=5), T0 + timedelta(days=6)
    notice = notice_record(Settings(), SUBJECT_A, "politie", RetentionReason.SIGNALS_WITHOUT_CASE, due, now)
    history.append(LineageRecord.from_bytes(notice.value))
    return history


def test_a_partner_told_to_delete_is_not_said_to_have_received_that_notice_as_data() -> None:
    shared = decision(event_id=UUID(int=7), recipient="politie", at=T0)
    history = [shared, receipt(shared), *_requests_and_a_notice()]
    report = access_report(build_subject_report(SUBJECT_A, history, now=T0 + timedelta(days=7)))
    assert (
        "De politie heeft op 2 november 2026 één keer gegevens over u gekregen, en op 8 november 2026 het bericht "
        "dat de bewaartermijn voorbij is en dat zij uw gegevens moet wissen."
    ) in _page_text(render_access_report_html(report))


def test_the_persons_requests_and_the_notice_to_delete_read_in_words(tmp_path: Path) -> None:
    report = access_report(build_subject_report(SUBJECT_A, _requests_and_a_notice(), now=T0 + timedelta(days=7)))
    assert report.untranslated == ()
    assert [(r.request.code, r.step.code, r.organisation.code) for r in report.requests] == [
        ("erasure", "received", "zvh"),
        ("access", "received", "zvh"),
        ("access", "answered", "zvh"),
        ("erasure", "confirmed", "politie"),
    ]
    (police,) = report.partners
    (told,) = [s for s in police.shared if s.message.code == "RetentionExpired"]
    assert told.purpose.nl == "het wissen van gegevens na de bewaartermijn"
    assert [note.code for note in told.notes] == ["signals_without_case"]
    assert [basis.code for basis in told.legal_bases] == ["AVG 6(1)(c)"]
    page = _page_text(render_access_report_html(report))
    letter = " ".join(_pdf_text(render_access_report_pdf(report), tmp_path).split())
    for text in (page, letter):
        assert codes_in(text) == []
        assert "Uw verzoeken" in text
        assert "de politie heeft dit verzoek uitgevoerd (uw verzoek om uw gegevens te wissen)" in text
        assert "gaf u een overzicht van uw gegevens (uw verzoek om inzage in uw gegevens)" in text
        assert "de bewaartermijn van uw gegevens voorbij is" in text
        # The notice to delete is not counted as data the partner received about the person.
        assert (
            "De politie heeft geen gegevens over u gekregen, alleen op 8 november 2026 het bericht dat de "
            "bewaartermijn voorbij is en dat zij uw gegevens moet wissen." in text
        )
