"""The retention clock and the key store's record of who is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schakel.retention import Kek, KeyStore, after_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
YEAR, HALF = timedelta(days=365), timedelta(days=180)
DEFAULTS = (5 * YEAR, HALF)


def test_signals_without_a_case_end_after_the_last_one_and_a_new_signal_restarts_the_clock() -> None:
    facts = after_event(None, at=T0, names_case=False, closes_case=False, after_close=YEAR, without_case=HALF)
    assert facts.due_at(DEFAULTS) == T0 + HALF
    later = after_event(
        facts, at=T0 + HALF / 2, names_case=False, closes_case=False, after_close=YEAR, without_case=HALF
    )
    assert later.due_at(DEFAULTS) == T0 + HALF / 2 + HALF


def test_an_open_case_never_ends_and_a_closed_one_ends_after_the_longest_period() -> None:
    facts = after_event(None, at=T0, names_case=True, closes_case=False, after_close=YEAR, without_case=HALF)
    assert facts.due_at(DEFAULTS) is None
    longer = after_event(facts, at=T0, names_case=True, closes_case=False, after_close=2 * YEAR, without_case=HALF)
    closed = after_event(longer, at=T0 + HALF, names_case=True, closes_case=True, after_close=YEAR, without_case=HALF)
    assert closed.due_at(DEFAULTS) == T0 + HALF + 2 * YEAR
    late = after_event(closed, at=T0 + YEAR, names_case=True, closes_case=False, after_close=YEAR, without_case=HALF)
    assert late.due_at(DEFAULTS) == closed.due_at(DEFAULTS), "a late event after CaseClosed does not reopen the case"


def test_an_event_without_a_copy_neither_lengthens_nor_shortens_and_the_defaults_stand_in_until_a_copy() -> None:
    consent_only = after_event(None, at=T0, names_case=True, closes_case=False, after_close=None, without_case=None)
    closed = after_event(consent_only, at=T0, names_case=True, closes_case=True, after_close=None, without_case=None)
    assert closed.due_at(DEFAULTS) == T0 + 5 * YEAR, "no covenant set a period: the hub's default"
    short = after_event(closed, at=T0, names_case=True, closes_case=False, after_close=HALF, without_case=HALF)
    assert short.due_at(DEFAULTS) == T0 + HALF, "the first copy's covenant sets the period, the default does not"
    again = after_event(short, at=T0, names_case=True, closes_case=False, after_close=None, without_case=None)
    assert again.due_at(DEFAULTS) == T0 + HALF


def test_the_store_finds_who_is_due_with_the_recipients_and_forgets_them_when_shredded(keystore_url: str) -> None:
    store = KeyStore(keystore_url, Kek.derive("a-key-encryption-key"))
    for subject, closes in (("closed-person", True), ("open-person", False)):
        store.key_for(subject)
        store.key_for_event(
            subject,
            at=T0,
            names_case=True,
            closes_case=closes,
            after_close=YEAR,
            without_case=HALF,
            recipients={"om": f"om-pseudonym-of-{subject}"},
        )
    assert store.due(T0 + YEAR - timedelta(seconds=1)) == []
    (due,) = store.due(T0 + YEAR)
    assert (due.subject, dict(due.recipients)) == ("closed-person", {"om": "om-pseudonym-of-closed-person"})
    assert store.shred_subject("closed-person", "retention-expired") == 1
    assert store.due(T0 + 10 * YEAR) == []
    assert store.facts("closed-person") is None
    assert store.recipients("closed-person") == {}
    status = store.status(T0)
    assert (status.subjects, status.data_keys) == (1, 1)
