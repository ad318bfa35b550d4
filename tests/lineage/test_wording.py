"""The translation table: it covers the whole catalogue and every covenant, names nothing else, and loads strictly."""

from __future__ import annotations

import pytest

from schakel.consent import LEGAL_BASES, Reason, load_covenants
from schakel.lineage.answers import REQUEST_STEPS
from schakel.lineage.wording import ENVELOPE_PREFIX, Wording, WordingError, load_wording, wording
from schakel.retention.job import NOTICE_PURPOSE
from schakel.schemas import (
    SUBJECT_REQUEST_CODES,
    BundleReason,
    EventType,
    Organisation,
    RetentionReason,
    field_sensitivities,
)

_DELIVERY = {"delivered", "pending", "dead-lettered", "none"}


def _expected() -> dict[str, set[str]]:
    covenants = load_covenants()
    return {
        "organisations": {o.value for o in Organisation},
        "event_types": {t.value for t in EventType},
        # The covenants' purposes, and the hub's own: the retention notice's.
        "purposes": {p for c in covenants for p in c.purposes} | {NOTICE_PURPOSE},
        "covenants": {c.id for c in covenants},
        "legal_bases": set(LEGAL_BASES),
        "reasons": {r.value for r in Reason} | {r.value for r in BundleReason} | {r.value for r in RetentionReason},
        "delivery": _DELIVERY,
        "consent_steps": {"passed-on"} | {r.value for r in Reason if r.value.startswith("consent-")},
        "requests": set(SUBJECT_REQUEST_CODES),
        "request_steps": set(REQUEST_STEPS.values()),
    }


def gaps(table: Wording) -> set[str]:
    """Every code of the catalogue and the covenants the table has no words for (``section:code``)."""
    missing = {
        f"{section}:{code}"
        for section, codes in _expected().items()
        for code in codes
        if code not in getattr(table, section)
    }
    missing |= {
        f"fields:{t.value}.{name}"
        for t in EventType
        for name in field_sensitivities(t)
        if table.field(t.value, name) is None
    }
    return missing


def stale(table: Wording) -> set[str]:
    """Entries that name nothing in the catalogue or the covenants (a typo, or a code since removed)."""
    extra = {
        f"{section}:{code}"
        for section, codes in _expected().items()
        for code in getattr(table, section)
        if code not in codes
    }
    envelope = {name for t in EventType for name in field_sensitivities(t) if name.startswith(ENVELOPE_PREFIX)}
    qualified = {f"{t.value}.{name}" for t in EventType for name in field_sensitivities(t)}
    return extra | {f"fields:{key}" for key in table.fields if key not in envelope | qualified}


def test_the_table_covers_the_catalogue_and_every_covenant() -> None:
    assert gaps(wording()) == set()


def test_the_table_names_nothing_that_does_not_exist() -> None:
    assert stale(wording()) == set()


def test_a_field_without_words_is_a_gap() -> None:
    table = wording()
    fields = {k: v for k, v in table.fields.items() if k != "Signal.iban"}
    purposes = {k: v for k, v in table.purposes.items() if k != "money-mule-prevention"}
    smaller = table.model_copy(update={"fields": fields, "purposes": purposes})
    assert gaps(smaller) == {"fields:Signal.iban", "purposes:money-mule-prevention"}


def test_a_field_is_worded_per_type_so_a_name_another_type_has_is_no_cover() -> None:
    table = wording()
    assert table.field("Referral", "reason") != table.field("SignalBundle", "reason")
    fields = {k: v for k, v in table.fields.items() if k != "SignalBundle.reason"}
    assert gaps(table.model_copy(update={"fields": fields})) == {"fields:SignalBundle.reason"}
    assert table.field("Signal", "subject.name") == table.field("CaseClosed", "subject.name")


def test_a_label_for_a_field_that_does_not_exist_is_stale() -> None:
    table = wording()
    extra = {**table.fields, "iban": table.fields["Signal.iban"], "Referral.iban": table.fields["Signal.iban"]}
    assert stale(table.model_copy(update={"fields": extra})) == {"fields:iban", "fields:Referral.iban"}


_SHIPPED = """
organisations: {}
event_types: {}
fields: {}
purposes: {}
covenants: {}
legal_bases: {}
reasons: {}
delivery: {}
consent_steps: {}
requests: {}
request_steps: {}
"""


def test_the_loader_reads_a_minimal_table() -> None:
    table = load_wording(_SHIPPED.replace("fields: {}", "fields: {Signal.iban: {nl: uw rekeningnummer, en: account}}"))
    assert table.field("Signal", "iban") is not None
    assert table.field("Referral", "iban") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (_SHIPPED.replace("fields: {}", "fields: {iban: {nl: a}}"), "fields.iban.en"),
        (_SHIPPED.replace("fields: {}", "fields: {iban: {nl: a, en: b, fr: c}}"), "fields.iban.fr"),
        (_SHIPPED.replace("fields: {}", "fields: {iban: {nl: '', en: b}}"), "fields.iban.nl"),
        (_SHIPPED.replace("fields: {}", "fields: {iban: {nl: 1, en: b}}"), "fields.iban.nl"),
        (_SHIPPED.replace("consent_steps: {}", ""), "consent_steps"),
        (_SHIPPED + "extra: {}\n", "extra"),
        (_SHIPPED.replace("fields: {}", "fields:\n  iban: {nl: a, en: b}\n  iban: {nl: c, en: d}"), "duplicate"),
        # A comma in an unquoted flow mapping splits the text: caught as an unexpected key, never half a label.
        (_SHIPPED.replace("fields: {}", "fields: {iban: {nl: a, b, en: c}}"), "fields.iban.b"),
    ],
)
def test_the_loader_refuses_anything_but_the_expected_shape(text: str, named: str) -> None:
    with pytest.raises(WordingError, match=r"wording\.yaml") as caught:
        load_wording(text)
    assert named in str(caught.value)
