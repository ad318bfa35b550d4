"""Pseudonyms and the projected copy a recipient receives."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from schakel.consent import ConsentError, ConsentState, Policy, Pseudonymizer, project, subject_key
from schakel.schemas import Codec, EventType, Organisation, SignalPayload

from .helpers import AT, BSN, OTHER_BSN, full_event

Org = Organisation
KEY = b"test-key-for-pseudonyms-0123456789"


def test_pseudonyms_are_keyed_deterministic_and_per_recipient() -> None:
    first, again, other_key = Pseudonymizer(KEY), Pseudonymizer(KEY), Pseudonymizer(KEY + b"!")
    key = f"bsn:{BSN}"
    assert first.subject(key) == again.subject(key)
    assert first.for_recipient(key, Org.POLITIE) == again.for_recipient(key, Org.POLITIE)
    assert first.for_recipient(key, Org.POLITIE) != first.for_recipient(key, Org.OM)
    assert first.for_recipient(key, Org.POLITIE) != first.subject(key)
    assert first.for_recipient(key, Org.POLITIE) != other_key.for_recipient(key, Org.POLITIE)
    assert first.for_recipient(key, Org.POLITIE) != first.for_recipient(f"bsn:{OTHER_BSN}", Org.POLITIE)
    assert BSN not in first.subject(key) + first.for_recipient(key, Org.POLITIE)
    assert KEY.decode() not in repr(first)


@pytest.mark.parametrize("root", [KEY, KEY * 4], ids=["short-root", "root-longer-than-a-block"])
def test_pseudonyms_and_references_are_the_documented_hmacs(root: bytes) -> None:
    """The values never change: the hub's tables, lineage and the partners' own records are keyed by them."""

    def mac(key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()

    def derived(label: bytes) -> bytes:
        return mac(root, label)

    pseudonyms = Pseudonymizer(root)
    for key in (f"bsn:{BSN}", "case:politie:MM-2026-7", "case:zvh:" + "é" * 200):
        assert pseudonyms.subject(key) == mac(derived(b"schakel/subject"), key.encode())[:16].hex()
        for org in Org:
            label = b"schakel/recipient/" + org.value.encode()
            assert pseudonyms.for_recipient(key, org) == mac(derived(label), key.encode())[:16].hex()
        person = pseudonyms.subject(key)
        nonce = mac(derived(b"schakel/seal/nonce"), b"e1/politie")[:16]
        pad = mac(derived(b"schakel/seal/pad"), nonce)[:16]
        cipher = bytes(a ^ b for a, b in zip(bytes.fromhex(person), pad, strict=True))
        tag = mac(derived(b"schakel/seal/tag"), nonce + cipher)[:16]
        assert pseudonyms.seal(person, "e1/politie") == (nonce + cipher + tag).hex()
        assert pseudonyms.unseal((nonce + cipher + tag).hex()) == person


def test_short_key_is_refused() -> None:
    with pytest.raises(ConsentError):
        Pseudonymizer(b"short")


def test_subject_key_falls_back_to_the_case() -> None:
    with_bsn = full_event(EventType.SIGNAL, Org.POLITIE, "money-mule-prevention")
    without = full_event(
        EventType.SIGNAL, Org.POLITIE, "money-mule-prevention", bsn=None, case_id="MM-2026-7", case_issuer=None
    )
    assert subject_key(with_bsn) == f"bsn:{BSN}"
    assert subject_key(without) == "case:politie:MM-2026-7"


def test_case_ids_are_namespaced_by_their_issuer() -> None:
    by_police = full_event(
        EventType.SIGNAL, Org.POLITIE, "money-mule-prevention", bsn=None, case_id="2026-7", case_issuer=None
    )
    by_zvh = by_police.model_copy(update={"case_issuer": Org.ZVH})
    assert subject_key(by_police) != subject_key(by_zvh) == "case:zvh:2026-7"
    assert Pseudonymizer(KEY).subject(subject_key(by_police)) != Pseudonymizer(KEY).subject(subject_key(by_zvh))


def test_a_sealed_subject_reference_differs_per_copy_and_opens_only_with_the_key() -> None:
    pseudonyms = Pseudonymizer(KEY)
    person = pseudonyms.subject(f"bsn:{BSN}")
    to_police, to_om = pseudonyms.seal(person, "e1/politie"), pseudonyms.seal(person, "e1/om")
    assert len({to_police, to_om, person}) == 3
    assert person not in to_police
    assert person not in to_om
    assert pseudonyms.unseal(to_police) == pseudonyms.unseal(to_om) == person
    assert pseudonyms.seal(person, "e1/politie") == to_police  # a redelivered copy carries the same reference
    with pytest.raises(ConsentError):
        Pseudonymizer(b"another-key-of-32-bytes-length!!").unseal(to_police)
    tampered = to_police[:40] + ("0" if to_police[40] != "0" else "1") + to_police[41:]
    with pytest.raises(ConsentError):
        pseudonyms.unseal(tampered)


def test_projection_nulls_what_is_withheld_and_adds_the_recipients_pseudonym(policy: Policy) -> None:
    pseudonyms = Pseudonymizer(KEY)
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    copy = project(event, decision, pseudonyms)
    assert isinstance(event.payload, SignalPayload)
    assert copy["payload"]["observed_behaviour"] == event.payload.observed_behaviour
    assert copy["payload"]["urgency"] == "high"
    assert copy["payload"]["ideology"] is None
    assert copy["payload"]["description"] is None
    assert copy["subject"]["bsn"] is None
    assert copy["subject"]["name"] is None
    assert copy["subject"]["pseudonym"] == pseudonyms.for_recipient(f"bsn:{BSN}", Org.POLITIE)
    assert copy["id"] == str(event.id)
    assert copy["case_id"] == event.case_id
    assert copy["purpose"] == event.purpose
    text = json.dumps(copy)
    assert BSN not in text
    assert "Sam de Vries" not in text
    assert "extremist" not in text
    # The projected copy is a valid JSON form for the egress codec.
    assert Codec().decode_json(Codec().encode_json(copy))["subject"]["bsn"] is None


def test_projection_keeps_the_bsn_where_the_rule_names_it(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.GEMEENTE_VEILIGHEID, ConsentState(), AT)
    copy = project(event, decision, Pseudonymizer(KEY))
    assert isinstance(event.payload, SignalPayload)
    assert copy["subject"]["bsn"] == BSN
    assert copy["payload"]["ideology"] == event.payload.ideology
    assert copy["payload"]["lvb_indication"] is None


def test_projection_for_a_denial_is_refused(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.GGZ, ConsentState(), AT)
    with pytest.raises(ConsentError, match="denied"):
        project(event, decision, Pseudonymizer(KEY))


def test_projection_of_another_event_is_refused(policy: Policy) -> None:
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    other = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    decision = policy.decide(event, Org.POLITIE, ConsentState(), AT)
    with pytest.raises(ConsentError, match="applied to event"):
        project(other, decision, Pseudonymizer(KEY))


def test_two_partners_cannot_link_their_pseudonyms(policy: Policy) -> None:
    pseudonyms = Pseudonymizer(KEY)
    event = full_event(EventType.SIGNAL, Org.POLITIE, "money-mule-prevention", bsn=None, case_id="MM-2026-7")
    copies = [project(event, d, pseudonyms) for d in policy.decide_all(event, ConsentState(), AT) if d.delivers]
    assert len(copies) >= 2
    seen = [c["subject"]["pseudonym"] for c in copies]
    assert len(set(seen)) == len(seen)


def test_projection_from_a_shared_form_leaves_it_alone(policy: Policy) -> None:
    pseudonyms = Pseudonymizer(KEY)
    event = full_event(EventType.SIGNAL, Org.GEMEENTE_SOCIAAL, "cter-person-centred")
    form = event.to_json()
    original = json.dumps(form, sort_keys=True)
    copies = [project(event, d, pseudonyms, form) for d in policy.decide_all(event, ConsentState(), AT) if d.delivers]
    assert len(copies) >= 2
    assert json.dumps(form, sort_keys=True) == original
    decisions = [d for d in policy.decide_all(event, ConsentState(), AT) if d.delivers]
    assert copies == [project(event, d, pseudonyms) for d in decisions]
