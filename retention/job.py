"""The retention job: finds the people whose retention ended and retires them. Kafka wiring; the choices are in
:mod:`schakel.retention.schedule` (who is due) and here, in this order, for each person:

1. tell each partner that received a copy about them, with a ``RetentionExpired`` event on its egress topic - named
   only by that partner's own pseudonym of the person, unsealed (the key it would need is about to go), so that the
   partner's system deletes too - and record each notice in lineage (:func:`notice_record`);
2. remove what the hub's tables keep about them: a purge command keyed by the person on the hub's internal topic
   ``<app id>-purge``, which the worker owning the person's partition turns into tombstones on the tables'
   compacted changelogs and passes on to the workers of the person's cases (``schakel.streams.purge``) - only the
   worker owning a partition may write its tables;
3. destroy their data key (:meth:`KeyStore.shred_subject`): from then on no copy about them opens, in any topic.

Steps 1 and 2 must be confirmed by the broker before step 3; a crash in between repeats them on the next run (the
notice's event id is derived from the person, the recipient and the due time, so sinks drop the repeat). The hub
does not wait for the job: an event about the person decided while it waits for the broker - a new signal restarts
their clock, or a copy went to a partner not told - keeps the key (:meth:`KeyStore.shred_retired` checks both under
the person's write lock); a later run, once they are due, tells every partner again and destroys it. *Why not
destroy it anyway:* that partner would never be told to delete (AVG art. 19), and the new copy, just sealed with
the key, could not be opened. The partners told and the purged tables have already let go of what they held. Then the
keys of dead letters without a person are destroyed for the days past the ``dlq`` retention, and lineage is
pruned: each record after its own covenant's lineage period (:func:`schakel.lineage.retention.prune_lineage`; the
hash chains stay verifiable, see :mod:`schakel.lineage.pruning`). The hub may not delete from the ``lineage`` topic:
``schakel lineage prune`` cuts it.

It runs in the hub as a Faust timer on the leader worker only (``SCHAKEL_RETENTION_INTERVAL_SECONDS``), and from
cron as ``schakel retention run`` (as ``admin``); two runs at once do the same work twice, harmlessly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schakel.consent import Pseudonymizer
from schakel.lineage import RETENTION_NOTICE_RECORD_NAME, RecordKind, hub_record
from schakel.lineage.retention import prune_lineage
from schakel.retention.keystore import KeyStore
from schakel.schemas import Codec, EventType, Organisation, RetentionReason, Theme, cloudevent_headers, parse_event
from schakel.settings import Settings
from schakel.streams.purge import PURGE
from schakel.streams.records import OUTCOME_HEADER, RECIPIENT_HEADER, SUBJECT_REF_HEADER, Message, trace_headers
from schakel.streams.topics import HubTopics

__all__ = [
    "NOTICE_PURPOSE",
    "RetentionRun",
    "notice",
    "notice_id",
    "notice_record",
    "purge_command",
    "retire",
    "run_retention",
]

_log = logging.getLogger("schakel.retention")

_NOTICE_NAMESPACE = uuid.UUID("6b1d3c4e-2f0a-4c55-9a77-5e1f2d3c4b5a")
NOTICE_PURPOSE = "storage-limitation"
"""The purpose a ``RetentionExpired`` notice and its lineage record name (worded in ``lineage/wording.yaml``)."""
_NOTICE_FIELDS = ("reason", "expired_at")
_NOTICE_BASIS = ("AVG 6(1)(c)",)
"""A legal obligation: the controller must erase what it no longer needs and tell each recipient (AVG art. 5(1)(e),
17 and 19)."""

Send = Callable[[Message], Awaitable[Awaitable[Any]]]
"""Hands a record to a producer; the awaitable it returns resolves once the broker stored it."""


@dataclass(frozen=True)
class RetentionRun:
    """What one run did (counts only: the log and the output never name a person)."""

    people: int
    notices: int
    keys_destroyed: int
    dead_letter_days: int
    lineage_pruned: int | None


def notice(
    settings: Settings,
    subject: str,
    recipient: str,
    pseudonym: str,
    reason: RetentionReason,
    due: datetime,
    now: datetime,
) -> Message:
    """The ``RetentionExpired`` record for one partner (unsealed: it carries only the partner's pseudonym); sent
    ``now``, about the period that ended at ``due``."""
    event_id = notice_id(subject, recipient, due)
    event = parse_event(
        {
            "id": str(event_id),
            "type": EventType.RETENTION_EXPIRED.value,
            "source": Organisation.ZVH.value,
            "time": min(now, datetime.now(UTC)).isoformat(),
            "subject": {"pseudonym": pseudonym},
            "purpose": NOTICE_PURPOSE,
            "theme": Theme.OTHER.value,
            "payload": {"reason": reason.value, "expired_at": due.isoformat()},
        }
    )
    form = event.to_json()
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    headers = [
        *cloudevent_headers(form, settings.source_urns),
        *trace_headers(),
        (RECIPIENT_HEADER, recipient.encode()),
        # As on every copy: the hub pseudonym only sealed, per copy (issue 11), for the sink's receipt.
        (SUBJECT_REF_HEADER, pseudonymizer.seal(subject, f"{event_id}/{recipient}").encode()),
        (OUTCOME_HEADER, b"permit"),
    ]
    return Message(HubTopics.of(settings).egress(recipient), pseudonym.encode(), Codec().encode_json(form), headers)


def notice_record(
    settings: Settings, subject: str, recipient: str, reason: RetentionReason, due: datetime, now: datetime
) -> Message:
    """The lineage record of one ``RetentionExpired`` notice: the hub's decision (a permit from the contact point,
    no covenant) to tell ``recipient`` that the data about ``subject`` must go, with the reason as its reason code -
    so the person's art. 15 report says, in words, that the partner was told to delete. The person is named by the
    hub pseudonym the key store tracks (``bsn``: the store does not keep what it derives from, as a sink's receipt
    without that header does not either)."""
    record = hub_record(
        kind=RecordKind.DECISION,
        name=RETENTION_NOTICE_RECORD_NAME,
        event_id=notice_id(subject, recipient, due),
        event_type=EventType.RETENTION_EXPIRED.value,
        sender=Organisation.ZVH.value,
        recipient=recipient,
        outcome="permit",
        fields_sent=_NOTICE_FIELDS,
        purpose=NOTICE_PURPOSE,
        legal_basis=_NOTICE_BASIS,
        reasons=(reason.value,),
        data_subject_id=subject,
        data_subject_key="bsn",
        at=min(now, datetime.now(UTC)),
    )
    return Message(HubTopics.of(settings).lineage, subject.encode(), record.to_bytes())


def notice_id(subject: str, recipient: str, due: datetime) -> uuid.UUID:
    """The notice's event id: one per person, recipient and end of retention, so a repeated run repeats the id."""
    return uuid.uuid5(_NOTICE_NAMESPACE, f"{subject}/{recipient}/{due.isoformat()}")


def purge_command(settings: Settings, subject: str) -> Message:
    """The command that makes the owning worker remove the person's table state."""
    return Message(HubTopics.of(settings).purge, subject.encode(), PURGE)


async def retire(
    settings: Settings,
    store: KeyStore,
    send: Send,
    subject: str,
    reason: RetentionReason,
    due: datetime,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Tell the partners, purge the tables, destroy the key (in that order); (notices sent, keys destroyed).

    A granted erasure request takes the last two steps in the hub, with notices only to partners the forwarded
    request did not reach (the others were told by it): :mod:`schakel.streams.requests_wiring`."""
    recipients = store.recipients(subject)
    at = now or datetime.now(UTC)
    pending = []
    for recipient, pseudonym in sorted(recipients.items()):
        pending.append(await send(notice(settings, subject, recipient, pseudonym, reason, due, at)))
        pending.append(await send(notice_record(settings, subject, recipient, reason, due, at)))
    pending.append(await send(purge_command(settings, subject)))
    await asyncio.gather(*pending)  # raises when the broker refused one: the key stays, the next run repeats
    # The hub went on deciding while this waited: an event about the person since `recipients` was read keeps the
    # key (see the module docstring).
    destroyed = store.shred_retired(subject, reason.value, now=at, told=recipients)
    if destroyed is None:
        _log.warning("a person had an event while being retired: their key stays until a later run retires them")
        return len(recipients), 0
    return len(recipients), destroyed


async def run_retention(settings: Settings, store: KeyStore, send: Send, now: datetime) -> RetentionRun:
    """Retire everyone due at ``now``; destroy the dead-letter keys past the dlq retention; prune lineage."""
    people = notices = destroyed = 0
    for due in store.due(now):
        facts = store.facts(due.subject)
        closed = facts is not None and facts.case_closed_at is not None
        reason = RetentionReason.CASE_CLOSED if closed else RetentionReason.SIGNALS_WITHOUT_CASE
        sent, gone = await retire(settings, store, send, due.subject, reason, due.due_at, now)
        people, notices, destroyed = people + 1, notices + sent, destroyed + gone
    days = store.shred_dead_letter_days(now - timedelta(days=settings.dlq_retention_days))
    pruned = (await asyncio.to_thread(prune_lineage, settings, now=now)).total
    run = RetentionRun(people, notices, destroyed, days, pruned)
    _log.info(
        "retention run: %d people retired, %d notices, %d keys destroyed, %d dead-letter days",
        people,
        notices,
        destroyed,
        days,
    )
    return run
