"""Lineage histories of one person that use every code there is: every rule of every shipped covenant (a permit,
delivered or dead-lettered), every reason code (a denial or a bundle), every field of every type, every legal basis.

The art. 15 report's tests render these and look for any code on the page; ``every_code()`` is what they look for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

from schakel.consent import LEGAL_BASES, Covenant, Reason, load_covenants
from schakel.lineage import BUNDLE_RECORD_NAME, LineageRecord
from schakel.schemas import BundleReason, EventType, Organisation, field_sensitivities
from tests.lineage.factory import T0, decision, receipt

_DENIALS = tuple(r for r in Reason if r not in {Reason.PERMITTED, Reason.FIELDS_WITHHELD})


def _rules(covenants: tuple[Covenant, ...]) -> Iterator[LineageRecord]:
    n = 0
    for covenant in covenants:
        for rule in covenant.rules:
            for event_type in rule.event_types:
                governed = tuple(field_sensitivities(event_type))
                sent = tuple(f for f in governed if f in rule.fields)
                withheld = tuple(f for f in governed if f not in rule.fields)
                bases = tuple(dict.fromkeys(b for cited in rule.legal_basis.values() for b in cited))
                for recipient in rule.recipients[:1]:  # the denials below reach every organisation
                    n += 1
                    reasons = ["permitted"] + (["fields-withheld"] if withheld else [])
                    if "subject.bsn" in withheld:
                        reasons.append("bsn-pseudonymised")
                    record = decision(
                        event_id=UUID(int=n),
                        recipient=recipient.value,
                        sender=rule.senders[0].value,
                        event_type=event_type.value,
                        outcome="partial" if withheld else "permit",
                        fields_sent=sent,
                        fields_withheld=withheld,
                        purpose=rule.purpose,
                        legal_basis=bases,
                        reasons=tuple(reasons),
                        at=T0 + timedelta(minutes=n),
                    ).model_copy(
                        update={"covenant_id": covenant.id, "covenant_version": covenant.version, "rule": rule.id}
                    )
                    yield record
                    yield receipt(record, outcome="dead-lettered" if n % 7 == 0 else "delivered")


def _denials(start: int) -> Iterator[LineageRecord]:
    types = list(EventType)
    for i, reason in enumerate(_DENIALS):
        event_type = types[i % len(types)]
        yield decision(
            event_id=UUID(int=start + i),
            recipient=list(Organisation)[i % len(Organisation)].value,
            event_type=event_type.value,
            outcome="deny",
            fields_withheld=tuple(field_sensitivities(event_type)),
            purpose="case-consultation",
            legal_basis=(),
            reasons=(reason.value,),
            at=T0 + timedelta(days=1, minutes=i),
        ).model_copy(update={"covenant_id": None, "covenant_version": None, "rule": None})
    # Every field of every type withheld once, and every legal basis cited once.
    for j, event_type in enumerate(EventType):
        yield decision(
            event_id=UUID(int=start + 100 + j),
            recipient="zvh",
            event_type=event_type.value,
            outcome="partial",
            fields_sent=("subject.name",),
            fields_withheld=tuple(f for f in field_sensitivities(event_type) if f != "subject.name"),
            purpose="case-consultation",
            legal_basis=tuple(LEGAL_BASES),
            reasons=("permitted", "fields-withheld", "unknown-fields-withheld"),
            at=T0 + timedelta(days=2, minutes=j),
        ).model_copy(update={"covenant_id": "zvh-casusoverleg", "covenant_version": "1", "rule": "1"})


def _bundles(start: int) -> Iterator[LineageRecord]:
    for i, reason in enumerate(BundleReason):
        record = decision(
            event_id=UUID(int=start + i),
            recipient="zvh",
            sender="zvh",
            event_type=EventType.SIGNAL_BUNDLE.value,
            fields_sent=("reason", "signals"),
            purpose="case-consultation",
            legal_basis=("AVG 6(1)(e)", "WGS 2.1"),
            at=T0 + timedelta(days=3, minutes=i),
        ).model_copy(update={"covenant_id": None, "covenant_version": None, "rule": None})
        yield LineageRecord.model_validate(
            {**record.model_dump(), "name": BUNDLE_RECORD_NAME, "reasons": (reason.value,)}
        )


def full_history() -> list[LineageRecord]:
    """One person's history that names every covenant, rule, purpose, reason, basis, type, field and partner."""
    return [*_rules(load_covenants()), *_denials(10_000), *_bundles(20_000)]


def every_code() -> dict[str, set[str]]:
    """Every code a lineage record can carry that a person must never read, by kind."""
    covenants = load_covenants()
    fields = {f for t in EventType for f in field_sensitivities(t)}
    return {
        "event type": {t.value for t in EventType},
        "field": fields | {f.removeprefix("subject.") for f in fields if f.startswith("subject.")},
        "purpose": {p for c in covenants for p in c.purposes},
        "covenant": {c.id for c in covenants} | {c.ref for c in covenants} | {c.version for c in covenants},
        "reason": {r.value for r in Reason} | {r.value for r in BundleReason},
        "legal basis": set(LEGAL_BASES),
        "organisation": {o.value for o in Organisation},
        "outcome": {"permit", "partial", "deny", "dead-lettered"},
    }
