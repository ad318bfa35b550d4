"""The value the decision engine returns: one per (event, candidate recipient).

A :class:`Decision` holds names, never values: which governed fields are sent and which withheld, under which
covenant@version, rule, purpose and legal basis, and why (reason codes). It is what the hub acts on, what lineage
records, and what ``schakel consent explain`` turns into sentences. It is a frozen dataclass with slots rather than a
pydantic model because the hub builds one per candidate recipient of every event (the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from schakel.schemas import Organisation

__all__ = ["Decision", "Outcome", "Reason"]


class Outcome(StrEnum):
    """``permit``: every present governed field is sent; ``partial``: a permit that withholds at least one present
    field; ``deny``: nothing is sent, the recipient gets nothing at all."""

    PERMIT = "permit"
    PARTIAL = "partial"
    DENY = "deny"


class Reason(StrEnum):
    """Reason codes. A decision lists them in this order."""

    PERMITTED = "permitted"
    """A rule of a covenant in force applied."""
    FIELDS_WITHHELD = "fields-withheld"
    """Present fields outside the applied rule were withheld."""
    SPECIAL_CATEGORY_WITHHELD = "special-category-withheld"
    """Among them health or belief data (AVG art. 9)."""
    CRIMINAL_DATA_WITHHELD = "criminal-data-withheld"
    """Among them criminal data (AVG art. 10, Wpg, Wjsg)."""
    YOUTH_DATA_WITHHELD = "youth-data-withheld"
    """Among them youth data."""
    UNKNOWN_FIELDS_WITHHELD = "unknown-fields-withheld"
    """The event carried fields the catalogue does not govern; they are withheld."""
    BSN_PSEUDONYMISED = "bsn-pseudonymised"
    """The BSN was withheld; the recipient gets its own pseudonym of the person instead."""
    NO_RULE = "no-rule"
    """No rule of any covenant lets this recipient receive this event type from this sender."""
    PURPOSE_MISMATCH = "purpose-mismatch"
    """Rules exist for this sender, recipient and event type, but none for the event's purpose."""
    COVENANT_NOT_IN_FORCE = "covenant-not-in-force"
    """The covenant of a matching rule is not in force at the time of the decision."""
    NOT_INVITED = "not-invited"
    """A matching rule applies only to case partners the ZVH invited to the event's case (an accepted referral, a
    triage decision or a consultation outcome in the hub's case state), and this one is not invited (or the case
    is closed). The sender's ``addressees`` do not count."""
    CONSENT_MISSING = "consent-missing"
    """A matching rule needs the subject's consent for this recipient and purpose; none is on file."""
    CONSENT_WITHDRAWN = "consent-withdrawn"
    """... the consent was withdrawn before the time of the decision."""
    CONSENT_EXPIRED = "consent-expired"
    """... the consent expired before the time of the decision."""
    CONSENT_WRONG_PARTY = "consent-wrong-party"
    """... consent is on file, but only recorded by parties the rule does not name for it (a consent binds the
    controller it was given to: by default the sender of the data, or the ZVH where the covenant says so)."""
    PURPOSE_UNKNOWN = "purpose-unknown"
    """No covenant has the event's purpose: the event is not decided under any rule."""
    PURPOSE_NOT_FOR_SENDER = "purpose-not-for-sender"
    """No covenant lets the sender claim the event's purpose for this event type."""
    PURPOSE_NOT_FOR_THEME = "purpose-not-for-theme"
    """The event's purpose does not belong to the event's theme in any covenant that lets the sender claim it."""
    SECRECY_GROUND_MISSING = "secrecy-ground-missing"
    """A matching rule needs a recorded professional-secrecy ground (GGZ); the event records none."""
    SECRECY_GROUND_NOT_ACCEPTED = "secrecy-ground-not-accepted"
    """The event records a secrecy ground that the matching rule does not accept."""
    DELIBERATION_MISSING = "deliberation-missing"
    """The secrecy ground is a conflict of duties, but the event does not refer to the recorded deliberation."""
    PROCESSING_RESTRICTED = "processing-restricted"
    """The person asked for restriction of processing (AVG art. 18): nothing about them is delivered until it is
    lifted (:mod:`schakel.consent.subject_rights`)."""
    NO_DATA_RECEIVED = "no-data-received"
    """A subject request is forwarded only to partners that received data about the person (AVG art. 19)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What one recipient may receive of one event, and why."""

    event_id: UUID
    recipient: Organisation
    outcome: Outcome
    fields_sent: tuple[str, ...]
    fields_withheld: tuple[str, ...]
    covenant_id: str | None
    covenant_version: str | None
    rule: str | None
    purpose: str
    legal_basis: tuple[str, ...]
    reasons: tuple[Reason, ...]

    @classmethod
    def _make(
        cls,
        event_id: UUID,
        recipient: Organisation,
        outcome: Outcome,
        fields_sent: tuple[str, ...],
        fields_withheld: tuple[str, ...],
        covenant_id: str | None,
        covenant_version: str | None,
        rule: str | None,
        purpose: str,
        legal_basis: tuple[str, ...],
        reasons: tuple[Reason, ...],
    ) -> Decision:
        """The engine's constructor: the same value as ``Decision(...)``, built without the frozen dataclass's
        per-field ``object.__setattr__`` calls (about half the cost; this runs once per candidate recipient)."""
        self = _new(cls)
        _set_event_id(self, event_id)
        _set_recipient(self, recipient)
        _set_outcome(self, outcome)
        _set_fields_sent(self, fields_sent)
        _set_fields_withheld(self, fields_withheld)
        _set_covenant_id(self, covenant_id)
        _set_covenant_version(self, covenant_version)
        _set_rule(self, rule)
        _set_purpose(self, purpose)
        _set_legal_basis(self, legal_basis)
        _set_reasons(self, reasons)
        return self

    @property
    def covenant_ref(self) -> str | None:
        """``id@version`` of the covenant whose rule was applied (or, for a denial, evaluated); None without one."""
        if self.covenant_id is None:
            return None
        return f"{self.covenant_id}@{self.covenant_version}"

    @property
    def delivers(self) -> bool:
        """Whether the recipient gets a (projected) copy: a permit or a partial."""
        return self.outcome is not Outcome.DENY

    def to_json(self) -> dict[str, Any]:
        """The JSON form (for the command line, lineage and tests)."""
        return {
            "event_id": str(self.event_id),
            "recipient": self.recipient.value,
            "outcome": self.outcome.value,
            "fields_sent": list(self.fields_sent),
            "fields_withheld": list(self.fields_withheld),
            "covenant": self.covenant_ref,
            "covenant_id": self.covenant_id,
            "covenant_version": self.covenant_version,
            "rule": self.rule,
            "purpose": self.purpose,
            "legal_basis": list(self.legal_basis),
            "reasons": [reason.value for reason in self.reasons],
        }


_new = object.__new__
(
    _set_event_id,
    _set_recipient,
    _set_outcome,
    _set_fields_sent,
    _set_fields_withheld,
    _set_covenant_id,
    _set_covenant_version,
    _set_rule,
    _set_purpose,
    _set_legal_basis,
    _set_reasons,
) = (vars(Decision)[name].__set__ for name in Decision.__slots__)
