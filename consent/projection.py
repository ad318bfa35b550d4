"""The copy of an event that one recipient receives.

:func:`project` applies a decision to an event's JSON form by allowlist: every governed field not in
``fields_sent`` becomes null (payload fields, and ``subject.bsn`` / ``name`` / ``birth_date``), any other payload
or subject field too, and ``subject.pseudonym`` is set to the recipient's own pseudonym of the person. The envelope
(id, type, source, time, case_id, purpose, theme, addressees) travels unchanged. Projecting for a denial is an
error: a denied recipient gets nothing, not an empty copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schakel.consent.decision import Decision, Outcome
from schakel.consent.errors import ConsentError
from schakel.consent.pseudonyms import Pseudonymizer, subject_key
from schakel.schemas import Event

__all__ = ["project"]


def project(
    event: Event, decision: Decision, pseudonymizer: Pseudonymizer, form: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON form of ``event`` as ``decision.recipient`` may see it.

    ``form`` is ``event.to_json()`` when the caller has it already (the hub projects one event for several
    recipients and makes its JSON form once); it is not changed.
    """
    if decision.outcome is Outcome.DENY:
        raise ConsentError(f"event {event.id}: {decision.recipient.value} is denied; there is nothing to project")
    if decision.event_id != event.id:
        raise ConsentError(f"decision for event {decision.event_id} applied to event {event.id}")
    sent = frozenset(decision.fields_sent)
    copy = dict(form if form is not None else event.to_json())
    payload = copy.get("payload") or {}
    copy["payload"] = {name: (value if name in sent else None) for name, value in payload.items()}
    subject = copy.get("subject") or {}
    projected = {name: (value if f"subject.{name}" in sent else None) for name, value in subject.items()}
    projected["pseudonym"] = pseudonymizer.for_recipient(subject_key(event), decision.recipient)
    copy["subject"] = projected
    return copy
