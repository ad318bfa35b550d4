"""The hub's side of retention: seal what it writes, and record what the retention clock needs.

For each accepted event, once its outputs are decided (:meth:`RetentionKeeper.seal`): every record for an
``egress.<org>`` topic is sealed with the person's data key (:class:`schakel.retention.Sealer`), and the key store
notes the event (when, whether it names or closes a case, the longest periods of the covenants that permitted a
copy, each recipient with its own pseudonym of the person). A dead letter's original value is sealed the same way
(:meth:`RetentionKeeper.seal_dead_letter`). The person is the one the hub decides for: the person pseudonym across
identifiers (a BSN's, or a case's while no BSN is linked), the key of the ``subjects`` table, so the retention job's
purge reaches the same row. A dead letter is sealed under the pseudonym of its ingress key (the hub has not linked
it to a person at that point).

Order: the key store is written before the outputs are produced. A crash between the two leaves a noted person
without copies (their retention still runs out and is harmless); the reverse could leave a copy whose person the
retention job never finds.

Cost per event (issue 14): one look-up of the key (:meth:`KeyStore.key_for_event`: one read for a person already
known, six statements and one commit for a new one) and one AES-GCM cipher for all of the event's copies, dropped
when :meth:`RetentionKeeper.seal` returns (no key is kept between events, so a shredded key is never used again).
*Known limit, left to the hub:* the look-up runs synchronously on the worker's event loop, and a new person's
commit waits for an fsync - on this shared machine 0.3-0.5 ms of CPU but 1.2 ms of wall time at the median, 6.5 ms
at p90 and 31 ms at p99 (max 64 ms; 300 new people, load average 16), during which the worker neither reads nor
produces. Running the look-up off the loop (``await asyncio.to_thread(...)`` in ``streams/hub.py``, the person step
awaiting each event as now, so order per person holds; the store's one connection is shared behind a lock, so a
thread may call it) would take that wait out of every other event's latency; the guarantee stays as long as
nothing is produced before it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from schakel.consent import Decision, Outcome, Policy, Retention
from schakel.retention import Sealer
from schakel.retention.copies import copy_sealer, seal_dead_letter_with
from schakel.schemas import EventType
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Record
from schakel.streams.records import DeadLetter, Message

__all__ = ["RetentionKeeper", "default_retention"]


def default_retention(settings: Settings) -> Retention:
    """The hub's default periods, for a covenant that names none."""
    return Retention(
        delivered_after_close=timedelta(days=settings.retention_after_close_days),
        signal_without_case=timedelta(days=settings.retention_signal_days),
        consent_history=timedelta(days=settings.retention_consent_days),
        lineage=timedelta(days=settings.retention_lineage_days),
    )


class RetentionKeeper:
    """Seals the hub's copies and dead letters, and keeps the retention clock's facts."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        sealer: Sealer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sealer = sealer
        self.clock = clock
        self.policy = policy
        self.defaults = default_retention(settings)
        self._egress = f"{settings.topic_prefix}egress."

    def _periods(self, decisions: Sequence[Decision]) -> tuple[timedelta | None, timedelta | None]:
        """The longest periods of the covenants that permitted a copy of this event (None when none did: such an
        event neither lengthens nor shortens the person's periods); a covenant's missing one is the default."""
        covenants = {d.covenant_id for d in decisions if d.outcome is not Outcome.DENY and d.covenant_id}
        if not covenants:
            return None, None
        periods = [self.policy.covenant(c).retention.with_defaults(self.defaults) for c in sorted(covenants)]
        return (
            max(p.delivered_after_close or timedelta(0) for p in periods),
            max(p.signal_without_case or timedelta(0) for p in periods),
        )

    def seal(
        self, accepted: Accepted, person: str, decisions: Sequence[Decision], messages: Sequence[Message]
    ) -> list[Message]:
        """``messages`` with every egress copy sealed with ``person``'s data key (the person's hub pseudonym, the
        key of their state in the ``subjects`` table); the event noted in the key store (one look-up of the
        person's key per event, one transaction at most)."""
        store = self.sealer.store
        if store is None:
            return list(messages)
        recipients = {
            message.topic.removeprefix(self._egress): message.key.decode()
            for message in messages
            if message.topic.startswith(self._egress) and message.key
        }
        after_close, without_case = self._periods(decisions)
        event = accepted.event
        key = store.key_for_event(
            person,
            at=self.clock(),
            names_case=event.case_id is not None,
            closes_case=event.type == EventType.CASE_CLOSED,
            after_close=after_close,
            without_case=without_case,
            recipients=recipients,
        )
        seal_copy = copy_sealer(key)  # this event's copies only: the key is not kept past this call
        sealed: list[Message] = []
        for message in messages:
            if message.topic.startswith(self._egress):
                value, headers = seal_copy(message.value, list(message.headers))
                message = Message(message.topic, message.key, value, headers)
            sealed.append(message)
        return sealed

    def seal_dead_letter(self, record: Record, dead: DeadLetter, message: Message) -> Message:
        """The dead letter with the original value sealed (the person's key, or the day's without a person)."""
        if not message.value:
            return message
        if dead.subject is not None and self.sealer.store is not None:
            key = self.sealer.store.key_for_event(
                dead.subject,
                at=dead.time,
                names_case=False,
                closes_case=False,
                after_close=None,
                without_case=None,
                recipients={},
            )  # sealed with the key this returns: no second look-up
            value, extra = seal_dead_letter_with(key, message.value, record.topic, record.partition, record.offset)
        else:
            value, extra = self.sealer.seal_dead_letter(
                dead.subject, message.value, record.topic, record.partition, record.offset, dead.time
            )
        return Message(message.topic, message.key, value, [*message.headers, *extra])
