"""Sealing: a copy opens only with its person's live data key, at its place; a destroyed key leaves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from schakel.consent import Pseudonymizer, load_policy, project, subject_key
from schakel.consent.consent_state import ConsentState
from schakel.consent.decision import Outcome
from schakel.retention import Kek, KeyStore, Opener, Sealer, SealError
from schakel.schemas import Codec, Event, cloudevent_headers
from schakel.settings import Settings, SettingsError
from tests.schemas.strategies import events

KEY = Pseudonymizer(b"a-test-pseudonym-key-of-32-bytes")
CODEC = Codec()


CURRENT = "the-current-key-encryption-key"
POLICY = load_policy()


def _store(location: str, secret: str = CURRENT, *previous: str) -> KeyStore:
    return KeyStore(location, Kek.derive(secret), [Kek.derive(p) for p in previous])


def _copies(event: Event) -> list[tuple[bytes, list[tuple[str, bytes]], str]]:
    """Every copy the policy permits of ``event``: (plain value, headers, recipient)."""
    out = []
    for decision in POLICY.decide_all(event, ConsentState(), datetime.now(UTC)):
        if decision.outcome is Outcome.DENY:
            continue
        form = project(event, decision, KEY)
        headers = [*cloudevent_headers(form, {}), ("schakel-recipient", str(decision.recipient).encode())]
        out.append((CODEC.encode_json(form), headers, str(decision.recipient)))
    return out


def _personal_values(event: Event) -> list[bytes]:
    values = [event.subject.bsn, event.subject.name]
    return [value.encode() for value in values if value and len(value) >= 4]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(event=events())
def test_no_copy_carries_a_readable_personal_value_without_its_persons_live_key(
    keystore_url: str, event: Event
) -> None:
    store = _store(keystore_url)
    sealer, opener = Sealer(store), Opener(store)
    subject = KEY.subject(subject_key(event))
    sealed = [(*sealer.seal_copy(subject, plain, headers), plain) for plain, headers, _ in _copies(event)]
    for value, headers, plain in sealed:
        assert not any(personal in value for personal in _personal_values(event))
        assert all(personal not in b"".join(v for _, v in headers) for personal in _personal_values(event))
        assert opener.open_copy(value, headers) == plain  # with the live key: exactly what the hub decided
    store.shred_subject(subject, "test")
    for value, headers, _ in sealed:
        with pytest.raises(SealError):
            opener.open_copy(value, headers)
    store.close()


def test_a_copy_does_not_open_as_another_recipients_or_another_events(keystore_url: str) -> None:
    store = _store(keystore_url)
    headers = [("ce_source", b"urn:x:politie"), ("ce_id", b"e-1"), ("schakel-recipient", b"om")]
    value, sealed = Sealer(store).seal_copy("person-1", b"\xc3\x01copy", headers)
    assert Opener(store).open_copy(value, sealed) == b"\xc3\x01copy"
    for name, other in (("schakel-recipient", b"ggz"), ("ce_id", b"e-2"), ("ce_source", b"urn:x:om")):
        moved = [(n, other if n == name else v) for n, v in sealed]
        with pytest.raises(SealError):
            Opener(store).open_copy(value, moved)
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    with pytest.raises(SealError):
        Opener(store).open_copy(flipped, sealed)


def test_an_unsealed_copy_is_refused_except_a_retention_notice(keystore_url: str) -> None:
    opener = Opener(_store(keystore_url))
    with pytest.raises(SealError):
        opener.open_copy(b"\xc3\x01plain", [("ce_type", b"nl.zorgveiligheid.schakel.Signal")])
    notice = [("ce_type", b"nl.zorgveiligheid.schakel.RetentionExpired")]
    assert opener.open_copy(b"\xc3\x01notice", notice) == b"\xc3\x01notice"


def test_rotating_the_kek_rewraps_the_keys_and_old_copies_still_open(keystore_url: str) -> None:
    old = _store(keystore_url, "the-first-key-encryption-key")
    headers = [("ce_source", b"s"), ("ce_id", b"e"), ("schakel-recipient", b"om")]
    value, sealed = Sealer(old).seal_copy("person-1", b"copy", headers)
    old.close()
    with pytest.raises(SealError):  # a store opened with a new KEK only cannot unwrap the old keys
        Opener(_store(keystore_url, "the-second-key-encryption-key")).open_copy(value, sealed)
    rotating = _store(keystore_url, "the-second-key-encryption-key", "the-first-key-encryption-key")
    assert rotating.rekey() == 1
    assert rotating.rekey() == 0
    rotating.close()
    after = _store(keystore_url, "the-second-key-encryption-key")  # the old KEK retired: the copy still opens
    assert Opener(after).open_copy(value, sealed) == b"copy"
    assert after.status(datetime.now(UTC)).keks == {after.kek.id: 1}


def test_dead_letters_without_a_person_use_the_days_key_which_ends_with_the_dlq_retention(keystore_url: str) -> None:
    store = _store(keystore_url)
    day = datetime(2026, 12, 1, 10, tzinfo=UTC)
    value, extra = Sealer(store).seal_dead_letter(None, b"raw bytes", "t.ingress.politie", 0, 7, day)
    headers = [
        *extra,
        ("schakel-original-topic", b"t.ingress.politie"),
        ("schakel-original-partition", b"0"),
        ("schakel-original-offset", b"7"),
    ]
    assert Opener(store).open_dead_letter(value, headers) == b"raw bytes"
    assert store.shred_dead_letter_days(day) == 0  # the day itself is not over
    assert store.shred_dead_letter_days(day + timedelta(days=1)) == 1
    with pytest.raises(SealError):
        Opener(store).open_dead_letter(value, headers)


def test_production_refuses_unsealed_copies_and_the_development_kek() -> None:
    with pytest.raises(SettingsError):
        Settings(environment="production", encrypt_copies=False, kek=SecretStr("x" * 32)).refuse_unprotected_copies()
    with pytest.raises(SettingsError, match="SCHAKEL_KEK"):
        Settings(environment="production").refuse_unprotected_copies()
    Settings(environment="production", kek=SecretStr("a-secret-of-our-own-123")).refuse_unprotected_copies()
    Settings(environment="development", encrypt_copies=False).refuse_unprotected_copies()
