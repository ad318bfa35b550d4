"""Partner records in the partners' own words become catalogue events, and copies go back in those words."""

from __future__ import annotations

import importlib

import pytest

from schakel.connectors.contract import Delivery
from schakel.connectors.errors import RecordRejected
from schakel.connectors.mapping import RecordMapping
from schakel.connectors.partners import politie
from schakel.schemas import EventType, Organisation, SubjectRequestEvent, parse_event
from schakel.schemas.examples import example_form

_ORGS = [o.value for o in Organisation]


def _mapping(org: str) -> RecordMapping:
    mapping: RecordMapping = importlib.import_module(f"schakel.connectors.partners.{org.replace('-', '_')}").MAPPING
    return mapping


@pytest.mark.parametrize("org", _ORGS)
def test_every_record_type_of_every_partner_maps_to_a_valid_event(org: str) -> None:
    mapping = _mapping(org)
    assert mapping.organisation.value == org
    for word, type_mapping in mapping.types.items():
        if type_mapping.direction == "out":  # delivered to the partner only: refused from it
            with pytest.raises(RecordRejected) as refused:
                mapping.to_event(mapping.example(word))
            assert refused.value.code == "unknown-event-type"
            continue
        event = mapping.to_event(mapping.example(word))
        assert event.type is type_mapping.event_type
        assert event.source.value == org


_PARTNERS = [o for o in _ORGS if o != "zvh"]


@pytest.mark.parametrize("org", _PARTNERS)
def test_a_partner_receives_a_forwarded_request_and_confirms_it_but_never_files_one(org: str) -> None:
    mapping = _mapping(org)
    form = parse_event(example_form(EventType.SUBJECT_REQUEST, "OTHER", payload={"kind": "erasure"})).to_json()
    form["subject"] = {**form["subject"], "bsn": None, "pseudonym": "recipient-pseudonym-1"}
    document, _ = mapping.render(Delivery(form["id"], org, "SubjectRequest", form, None, None))
    assert (document[mapping.type_field], document["soort_verzoek"]) == ("verzoek", "verwijdering")

    confirmation = mapping.example(
        "verzoek_uitgevoerd", verzoek_id=document["event_id"], soort_verzoek=document["soort_verzoek"]
    )
    confirmation = {**confirmation, "bsn": "999990019"}
    event = mapping.to_event(confirmation)
    assert isinstance(event, SubjectRequestEvent)
    assert (str(event.payload.confirms), event.payload.request, event.source.value) == (form["id"], "erasure", org)
    restricted = mapping.to_event({**confirmation, "soort_verzoek": None, "beperking": "beperken"})
    assert isinstance(restricted, SubjectRequestEvent)
    assert restricted.payload.request == "restriction"

    own = {**mapping.example("verzoek_uitgevoerd"), mapping.type_field: "verzoek", "verzoek_id": None}
    with pytest.raises(RecordRejected) as refused:  # only the contact point files requests
        mapping.to_event(own)
    assert refused.value.code == "unknown-event-type"
    assert "verzoek_uitgevoerd" in refused.value.reason
    assert "verzoek," not in refused.value.reason


def test_the_contact_point_files_requests_and_restrictions_and_confirms_none() -> None:
    mapping = _mapping("zvh")
    restriction = mapping.to_event({**mapping.example("verzoek"), "soort_verzoek": None, "beperking": "beperken"})
    lift = mapping.to_event({**mapping.example("verzoek"), "soort_verzoek": None, "beperking": "opheffen"})
    assert isinstance(restriction, SubjectRequestEvent)
    assert isinstance(lift, SubjectRequestEvent)
    assert (restriction.payload.request, lift.payload.request) == ("restriction", "restriction-lifted")
    assert restriction.payload.confirms is None
    with pytest.raises(RecordRejected) as refused:
        mapping.to_event({**mapping.example("verzoek"), "verzoek_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"})
    assert refused.value.code == "invalid-record"


def test_the_police_registratie_becomes_a_signal_in_catalogue_terms() -> None:
    record = {
        "soort": "registratie",
        "registratienummer": "PL1300-2026-000123",
        "bsn": "999990019",
        "gedragsomschrijving": "Werft jongeren als geldezel.",
        "urgentie": "acuut",
        "thema": "geldezel",
        "rekeningnummer": "NL91ABNA0417164300",
        "fraudevorm": "vriend_in_nood",
        "mutatiedatum": "2026-11-29T10:00:00+01:00",
    }
    event = politie.MAPPING.to_event(record)
    assert event.type is EventType.SIGNAL
    assert event.subject.bsn == "999990019"
    dumped = event.payload.model_dump(mode="json")
    assert dumped["observed_behaviour"] == "Werft jongeren als geldezel."
    assert dumped["urgency"] == "acute"
    assert dumped["fraud_type"] == "friend_in_need"
    assert event.theme.value == "MONEY_MULE"
    assert event.purpose == "money-mule-prevention"
    assert event.time.isoformat().startswith("2026-11-29T09:00:00")


@pytest.mark.parametrize(
    ("change", "code", "names"),
    [
        ({"soort": "proces-verbaal"}, "unknown-event-type", "registratie"),
        ({"soort": None}, "unknown-event-type", "soort"),
        ({"registratienummer": None}, "invalid-record", "registratienummer"),
        ({"schoenmaat": "44"}, "invalid-record", "schoenmaat"),
        ({"urgentie": "morgen"}, "invalid-record", "urgency"),
        ({"bsn": "123456789"}, "invalid-record", "subject.bsn"),
    ],
)
def test_bad_records_are_refused_with_a_code_and_a_reason_that_echoes_no_value(
    change: dict[str, object], code: str, names: str
) -> None:
    record = {**politie.MAPPING.example("registratie"), **change}
    with pytest.raises(RecordRejected) as refused:
        politie.MAPPING.to_event(record)
    assert refused.value.code == code
    assert names in refused.value.reason
    assert "123456789" not in str(refused.value)
    assert "morgen" not in str(refused.value)


def test_a_copy_goes_back_in_the_partners_words_with_withheld_fields_empty() -> None:
    form = parse_event(example_form(EventType.SIGNAL, "MONEY_MULE")).to_json()
    form["subject"] = {**form["subject"], "bsn": None, "pseudonym": "recipient-pseudonym-1"}
    form["payload"]["observed_behaviour"] = None
    delivery = Delivery(form["id"], "politie", "Signal", form, "hub-subject-1", None)
    document, fields = politie.MAPPING.render(delivery)
    assert document["soort"] == "registratie"
    assert document["pseudoniem"] == "recipient-pseudonym-1"
    assert document["bsn"] is None
    assert document["gedragsomschrijving"] is None
    assert document["urgentie"] == {"high": "hoog"}.get(form["payload"]["urgency"], document["urgentie"])
    assert "observed_behaviour" not in fields
    assert "subject.bsn" not in fields
    assert "iban" in fields


def test_a_type_the_partner_does_not_send_still_reaches_it_under_catalogue_names() -> None:
    form = parse_event(example_form(EventType.TRIAGE_DECISION, "CTER")).to_json()
    delivery = Delivery(form["id"], "politie", "TriageDecision", form, None, None)
    document, fields = politie.MAPPING.render(delivery)
    assert document["soort"] == "TriageDecision"
    assert document["aanvullend"]["outcome"] == form["payload"]["outcome"]
    assert "outcome" in fields


def test_without_a_bsn_the_case_number_keys_the_subject() -> None:
    record = {**politie.MAPPING.example("registratie"), "bsn": None, "zaaknummer": "GELDEZEL-2026-0042"}
    event = politie.MAPPING.to_event(record)
    assert event.subject.bsn is None
    assert event.case_id == "GELDEZEL-2026-0042"


def test_a_record_with_neither_bsn_nor_case_number_is_refused() -> None:
    record = {**politie.MAPPING.example("registratie"), "bsn": None}
    with pytest.raises(RecordRejected) as refused:
        politie.MAPPING.to_event(record)
    assert refused.value.code == "invalid-record"
