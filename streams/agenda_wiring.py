"""The ZVH's signal agenda in the hub: the engine's state per subject in, a ``SignalBundle`` copy and its lineage out.

Thin: :class:`schakel.streams.agenda.AgendaEngine` decides; this module turns its proposal into the records the hub
produces - the bundle on ``egress.zvh`` (keyed by the ZVH's own pseudonym of the person, with the same headers as
any copy) and one lineage record for it - and the agenda state into the JSON the Faust table ``agenda`` holds.
Only the event types that can change an agenda touch the table, so every other event costs nothing here.

The bundle's lineage record is a decision record of the hub's own event (named ``schakel.agenda.bundle``, sender and
recipient ``zvh``, rule ``signal-agenda``, the bundle's reason - ``several_partners`` or ``urgent_open_case`` - as
its reason code, which lineage accepts only on a bundle record), so ``lineage trace`` and the art. 15 report show
that a bundle was made and delivered about the person; the events it derives from are named in the bundle itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schakel.consent import ConsentState, Decision, subject_key
from schakel.lineage import BUNDLE_RECORD_NAME, LineageRecord, RecordKind, processing_activity, record_id
from schakel.schemas import EventType, Organisation, cloudevent_headers
from schakel.streams.agenda import Agenda, AgendaEngine, Proposal
from schakel.streams.processor import Accepted, Processor
from schakel.streams.records import (
    OUTCOME_HEADER,
    RECIPIENT_HEADER,
    SUBJECT_KEY_HEADER,
    SUBJECT_REF_HEADER,
    Message,
    trace_headers,
)

__all__ = ["AGENDA_EVENTS", "AgendaKeeper"]

AGENDA_EVENTS = frozenset(
    {EventType.SIGNAL, EventType.CONSENT_CHANGE, EventType.CASE_CLOSED, EventType.TRIAGE_DECISION}
)
"""The event types that can change a person's agenda."""

_RULE = "signal-agenda"


class AgendaKeeper:
    """Applies one decided event to the person's stored agenda and makes the bundle records when one is due."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.engine = AgendaEngine(processor.policy)

    def step(
        self,
        accepted: Accepted,
        person: str,
        decisions: Sequence[Decision],
        consent: ConsentState,
        stored: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any] | None, list[Message]]:
        """The agenda to store (None: unchanged) and the records to produce, for one accepted event decided for
        ``person`` (the person's hub pseudonym)."""
        if accepted.event.type not in AGENDA_EVENTS:
            return None, []
        before = Agenda.from_json(stored) if stored is not None else Agenda()
        now = self.processor.clock()
        after, proposal = self.engine.on_event(before, accepted.event, tuple(decisions), consent, now)
        changed = after.to_json() if after != before else None
        if proposal is None:
            return changed, []
        return changed, self._bundle(accepted, person, proposal)

    def _bundle(self, accepted: Accepted, person: str, proposal: Proposal) -> list[Message]:
        processor = self.processor
        now = processor.clock()
        zvh_pseudonym = processor.pseudonymizer.for_recipient(subject_key(accepted.event), Organisation.ZVH)
        bundle = proposal.bundle(zvh_pseudonym, now)
        form = bundle.to_json()
        kind = processor.person_kind(accepted, person)
        headers = [
            *cloudevent_headers(form, processor.settings.source_urns),
            *trace_headers(),
            (RECIPIENT_HEADER, Organisation.ZVH.value.encode()),
            (SUBJECT_REF_HEADER, processor.pseudonymizer.seal(person, f"{bundle.id}/{Organisation.ZVH}").encode()),
            (SUBJECT_KEY_HEADER, kind.encode()),
            (OUTCOME_HEADER, b"permit"),
        ]
        copy = Message(
            processor.topics.egress(Organisation.ZVH),
            zvh_pseudonym.encode(),
            processor.codec.encode_json(form),
            headers,
        )
        record = LineageRecord(
            record_id=record_id(Organisation.ZVH.value, bundle.id, person, Organisation.ZVH.value, RecordKind.DECISION),
            kind=RecordKind.DECISION,
            name=BUNDLE_RECORD_NAME,
            status="ok",
            start_time=now,
            end_time=processor.clock(),
            event_id=bundle.id,
            event_type=EventType.SIGNAL_BUNDLE.value,
            sender=Organisation.ZVH.value,
            recipient=Organisation.ZVH.value,
            outcome="permit",
            fields_sent=("reason", "signals"),
            purpose=bundle.purpose,
            rule=_RULE,
            reasons=(proposal.reason.value,),
            processing_activity_id=processing_activity(bundle.purpose),
            data_subject_id=person,
            data_subject_key=kind,
            source_topic=accepted.record.topic,
            source_partition=accepted.record.partition,
            source_offset=accepted.record.offset,
        )
        lineage = Message(processor.topics.lineage, person.encode(), record.to_bytes())
        return [copy, lineage]
