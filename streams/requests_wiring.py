"""Subject requests in the hub: the person's :class:`~schakel.streams.requests.RequestBook` in, decisions adjusted
and lineage records out. Thin: the book (:mod:`schakel.streams.requests`) and the consent functions
(:mod:`schakel.consent.subject_rights`) decide.

For every accepted event the hub asks :class:`RequestDesk`:

- :meth:`RequestDesk.adjustment`: how to adjust the policy's decisions - a request from the contact point goes only to
  the partners that received data about the person (the key store's record of them: :func:`recipients_of`, and
  why there in :mod:`schakel.retention.keystore`); any other event is denied to everyone while the person's
  processing is restricted; requests themselves never are;
- :meth:`RequestDesk.after`: the book to store (None: unchanged) and the request's own lineage record
  (``schakel.subject.request``: what was asked, when) - the forwarded copies and their decision records are the
  policy's, produced as for any event;
- :meth:`RequestDesk.confirmation`: a partner's confirmation is the hub's business only: no decisions, no copies,
  one lineage record (``schakel.subject.request.confirm``) when it confirms an open request - unless
  :meth:`RequestDesk.refused` dead-letters it first (the request was not forwarded to that partner).

Who may file and who may confirm: only the contact point files a request - a ``SubjectRequest`` without ``confirms``
from any other partner claims a purpose its sender may not (covenant rule 18 is ``from: [zvh]``) and is dead-lettered
by :meth:`schakel.streams.processor.Processor.accept` (``PurposeNotClaimable``); a partner confirms through its own
source connector (its mapping's ``verzoek_uitgevoerd`` records), and only a request that went to it.

**A granted erasure** (every partner the erasure request went to confirmed it: :meth:`RequestDesk.confirmation`)
retires the person from the hub, in this order:

1. the confirmation's own lineage record and the request book's closing (the closed request leaves the book) - the
   book is written to the ``subject-requests`` table when the confirmation is processed, before anything is sent, so
   the purge below finds it closed and the person's report still says the erasure closed;
2. a purge command keyed by the person on ``<app id>-purge`` (:func:`schakel.retention.job.purge_command`, the
   retention job's own, carried out by the worker that owns the person's partition: :mod:`schakel.streams.purge`),
   sent after the lineage record on the hub's producer, so every table entry about the person and their cases ends
   in a tombstone (another request still open stays in the book until it closes);
3. the data key destroyed (:func:`erasure_hook`: every copy about them becomes unreadable, and who received data is
   forgotten) - only once the broker confirmed both records (:attr:`Confirmation.erased`, called by the hub when the
   confirmation's outputs are confirmed), as the retention job does, and once every partner that received a copy
   was told to delete (below).

*Why on close and not on arrival:* the forwarded request is itself a copy on the partners' egress topics; destroying
the key at once could make it unreadable before the partners read it. The partners the request went to were told by
it and confirmed it: they get no ``RetentionExpired``.

**A partner the request did not go to.** The hub goes on deciding while an erasure is open (weeks, until the last
partner confirms) and while it waits for the broker after the closing confirmation: an event about the person may
send a copy to a partner that had received nothing when the request was forwarded. Its copy was readable when it was
delivered, so destroying the key does not undo it, and without a word that partner would keep the data and never be
told to delete (AVG art. 17 and 19). The key goes all the same - the person asked, and a new event does not undo
their request - but only once every such partner was told: :meth:`KeyStore.shred_erased` checks, under the person's
write lock, who received a copy and was not told; while there is one, the hub sends it a ``RetentionExpired`` with
reason ``erasure`` and its lineage record (:func:`schakel.retention.job.notice` and ``notice_record``; the event id
is derived from the person, the partner and the request's arrival, so a repeat is dropped), waits until
the broker stored them, and asks again. *Why not destroy first and tell after:* the key store's record of who
received data goes with the key, and a crash between the two would leave that partner untold for good.

*Judgement calls.* When the broker refuses the records (the confirmation is dead-lettered), the key is destroyed all the
same, once the dead letter is stored: the erasure was granted, and a resend of the dead letter could not purge again
(the request is closed in the book; a confirmation of a closed request changes nothing) - the tables may then keep the
person's (pseudonymous) entries, and the log says so, without the person. Known limit: a worker crash after the book's
closing reached the changelog but before the broker confirmed the purge command redelivers the confirmation, which then
confirms nothing (so does a crash while partners are told, below): the key and the entries stay until the person's
retention ends (the retention job retires them then). So does a key store that fails to destroy the key (the hub logs
the failure, and the confirmation stays unacknowledged until the worker restarts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from schakel.consent import Decision, only_recipients, restrict
from schakel.errors import SchakelError
from schakel.lineage import REQUEST_CONFIRM_RECORD_NAME, REQUEST_RECORD_NAME, RecordKind, hub_record
from schakel.retention import KeyStore
from schakel.retention.job import notice, notice_record, purge_command
from schakel.schemas import EventType, RetentionReason, SubjectRequestEvent
from schakel.streams.processor import Accepted, Processor
from schakel.streams.records import DeadLetter, Message
from schakel.streams.requests import CONTACT_POINT, OpenRequest, RequestBook

__all__ = [
    "Confirmation",
    "ErasureHook",
    "RecipientsUnknownError",
    "RequestDesk",
    "erasure_hook",
    "recipients_of",
    "shredding_not_wired",
]

_log = logging.getLogger("schakel.streams.requests")

ErasureHook = Callable[[str, Collection[str]], Mapping[str, str]]
"""Destroys the data key of the person with this hub pseudonym (crypto-shredding) unless a partner not among those
given (told) received a copy about them: then it returns those partners, each with its pseudonym of the person, and
destroys nothing (:meth:`KeyStore.shred_erased`); {} once the key is destroyed."""

Deliver = Callable[[Message], Awaitable[None]]
"""Sends one record and returns once the broker stored it (the hub retries until it did)."""

Adjustment = Callable[[Sequence[Decision]], Sequence[Decision]]

Recipients = Callable[[str], Collection[str]]
"""The partners that received data about the person with this hub pseudonym."""


class RecipientsUnknownError(SchakelError):
    """Who received data about a person is not known here, so their request cannot be forwarded."""


def recipients_of(store: KeyStore | None) -> Recipients:
    """Who received data about a person, from the key store (:meth:`KeyStore.recipients`). Without a key store
    (copies unsealed: the benchmark's baseline only) nobody is known, and a request is refused - dead-lettered by the
    hub - rather than forwarded to no one or to everyone."""
    if store is None:
        return _unknown
    return lambda person: store.recipients(person).keys()


def _unknown(person: str) -> NoReturn:  # noqa: ARG001 - the pseudonym is for the real look-up, never in the error
    raise RecipientsUnknownError("copies are unsealed, so no key store records who received data about a person")


def shredding_not_wired(person: str, told: Collection[str]) -> Mapping[str, str]:  # noqa: ARG001 - never logged
    """The erasure hook without a key store (copies unsealed): says that no data key was destroyed."""
    _log.warning("an erasure request closed, but crypto-shredding is not wired: no data key was destroyed")
    return {}


def erasure_hook(store: KeyStore | None) -> ErasureHook:
    """A granted erasure destroys the person's data key in ``store`` (every copy about them becomes unreadable);
    without a key store (copies not sealed: the benchmark's baseline only) nothing can be shredded, and it says so."""
    if store is None:
        return shredding_not_wired
    return lambda person, told: store.shred_erased(person, told=told)


@dataclass(frozen=True)
class Confirmation:
    """What a partner's confirmation comes to (:meth:`RequestDesk.confirmation`)."""

    book: dict[str, Any] | None
    """The book to store (None: unchanged)."""
    messages: list[Message]
    """The confirmation's lineage record; for a granted erasure, then the purge command."""
    erased: Callable[[Deliver], Awaitable[None]] | None = None
    """A granted erasure: tells every partner that received a copy and was not told by the request, then destroys
    the person's data key - to call once the broker stored ``messages``, with the hub's way to send."""


class RequestDesk:
    """Acts on subject requests and keeps restrictions, one accepted event at a time."""

    def __init__(
        self,
        processor: Processor,
        erase_subject_data: ErasureHook = shredding_not_wired,
        recipients: Recipients = _unknown,
    ) -> None:
        self.processor = processor
        self.erase_subject_data = erase_subject_data
        self.recipients = recipients

    @staticmethod
    def is_confirmation(accepted: Accepted) -> bool:
        event = accepted.event
        return isinstance(event, SubjectRequestEvent) and event.payload.confirms is not None

    def adjustment(self, accepted: Accepted, person: str, stored: Mapping[str, Any] | None) -> Adjustment | None:
        """How the policy's decisions about this event change for the person's requests (None: they do not)."""
        event = accepted.event
        if event.type is EventType.SUBJECT_REQUEST:
            if event.source is not CONTACT_POINT:
                return None  # a partner's own request: the covenants decide, as for any event
            recipients = self.recipients(person)
            return lambda decisions: only_recipients(decisions, recipients)
        if stored is not None and RequestBook.from_json(stored).restricted is not None:
            return restrict
        return None

    def after(
        self, accepted: Accepted, person: str, stored: Mapping[str, Any] | None, decisions: Sequence[Decision]
    ) -> tuple[dict[str, Any] | None, list[Message]]:
        """The book to store (None: unchanged) and the extra lineage record, once the event is decided about
        ``person`` (the person's pseudonym)."""
        book = RequestBook.from_json(stored)
        event = accepted.event
        if isinstance(event, SubjectRequestEvent) and event.source is CONTACT_POINT:
            after = book.request(event, decisions, self.processor.clock())
            return after.to_json() if after != book else None, [self._received(accepted, person, event)]
        return None, []

    def refused(self, accepted: Accepted, stored: Mapping[str, Any] | None) -> DeadLetter | None:
        """A dead letter for a confirmation of an open request that was not forwarded to its sender (None: go on)."""
        event = accepted.event
        if not isinstance(event, SubjectRequestEvent) or not RequestBook.from_json(stored).not_forwarded(event):
            return None
        return self.processor.dead_letter(
            accepted.record,
            "ConfirmationNotForwarded",
            "the subject request this event confirms was not forwarded to its sender",
            event,
        )

    def confirmation(self, accepted: Accepted, person: str, stored: Mapping[str, Any] | None) -> Confirmation:
        """A partner's confirmation: the book to store and its lineage record (nothing when it confirms nothing); when
        it grants an erasure, the purge command after the record, and the key's destruction for when both are
        confirmed (see the module's docstring)."""
        event = accepted.event
        assert isinstance(event, SubjectRequestEvent)
        book = RequestBook.from_json(stored)
        after, confirmed, closed = book.confirm(event)
        if confirmed is None:
            return Confirmation(None, [])
        messages = [self._confirmed(accepted, person, confirmed)]
        if closed is None or closed.request != "erasure":
            return Confirmation(after.to_json(), messages)
        messages.append(purge_command(self.processor.settings, person))

        async def erased(deliver: Deliver) -> None:
            await self._erase(person, closed, deliver)

        return Confirmation(after.to_json(), messages, erased)

    async def _erase(self, person: str, request: OpenRequest, deliver: Deliver) -> None:
        """Destroy the person's data key once every partner that received a copy about them was told to delete: by
        the request, or by a ``RetentionExpired`` (reason ``erasure``) sent here (see the module's docstring)."""
        told = {*request.forwarded, *request.pending, CONTACT_POINT.value}  # the contact point made the request
        settings, reason, at = self.processor.settings, RetentionReason.ERASURE, self.processor.clock()
        while untold := self.erase_subject_data(person, frozenset(told)):
            _log.warning("erasure: %d partner(s) received data the request did not reach; telling them", len(untold))
            for recipient, pseudonym in sorted(untold.items()):
                await deliver(notice(settings, person, recipient, pseudonym, reason, request.received, at))
                await deliver(notice_record(settings, person, recipient, reason, request.received, at))
            told |= set(untold)

    # -- lineage ------------------------------------------------------------------------------------------------------

    def _received(self, accepted: Accepted, person: str, event: SubjectRequestEvent) -> Message:
        """The request arrived at the contact point: its decision record, what was asked as its reason."""
        contact = CONTACT_POINT.value
        return self._record(
            accepted,
            person,
            kind=RecordKind.DECISION,
            name=REQUEST_RECORD_NAME,
            sender=contact,
            outcome=None,
            reasons=(event.payload.request,),
        )

    def _confirmed(self, accepted: Accepted, person: str, request: OpenRequest) -> Message:
        """The receipt of the request from the confirming partner: the record names the request's id."""
        sender = str(accepted.event.source)
        return self._record(
            accepted,
            person,
            kind=RecordKind.RECEIPT,
            name=REQUEST_CONFIRM_RECORD_NAME,
            sender=sender,
            outcome="confirmed",
            request=request,
        )

    def _record(
        self,
        accepted: Accepted,
        person: str,
        *,
        kind: RecordKind,
        name: str,
        sender: str,
        outcome: str | None,
        reasons: tuple[str, ...] = (),
        request: OpenRequest | None = None,
    ) -> Message:
        """A step of a request in lineage, to the contact point, about the request (``request``'s id, or the
        accepted event's own)."""
        event = accepted.event
        record = hub_record(
            kind=kind,
            name=name,
            event_id=request.request_id if request is not None else event.id,
            event_type=EventType.SUBJECT_REQUEST.value,
            sender=sender,
            recipient=CONTACT_POINT.value,
            outcome=outcome,
            purpose=event.purpose,
            reasons=reasons,
            data_subject_id=person,
            data_subject_key=self.processor.person_kind(accepted, person),
            at=self.processor.clock(),
            source=accepted.record,
        )
        return Message(self.processor.topics.lineage, person.encode(), record.to_bytes())
