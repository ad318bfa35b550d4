"""The hub's record of one person's subject requests (AVG art. 15-21), kept in the Faust table ``subject-requests``.
Pure: no Kafka, no clock of its own.

Per person, a :class:`RequestBook` holds what the hub needs to act on requests - and nothing a request does not
need:

1. **Whether processing is restricted** (``restricted``: the id of the restriction request in force). While it is,
   every delivery about the person is denied (:func:`schakel.consent.restrict`); a ``lift`` request ends it.
2. **The open requests**: id, what was asked, when it arrived, the partners it went to and which of them have not
   confirmed yet. A partner's confirmation (a ``SubjectRequest`` with ``confirms``) takes it off; when none is left
   the request closes and leaves the book (lineage keeps its history: :mod:`schakel.lineage.requests`). A
   confirmation of an open request by a partner it did not go to is refused (:meth:`RequestBook.not_forwarded`: the
   hub dead-letters it - a stray confirmation is no evidence, and its sender should know); a repeated confirmation,
   or one of an unknown or closed request (which cannot be told from a late repeat), changes nothing.

**Who received data about the person** is not in the book: the hub keeps one record of it, the data-key store's
(:meth:`schakel.retention.KeyStore.recipients`, each recipient with its own pseudonym of the person), which the
retention job needs too. A request from the contact point goes to exactly those partners
(:func:`schakel.consent.only_recipients`, :mod:`schakel.streams.requests_wiring`); why the store and not this table
is written in :mod:`schakel.retention.keystore`. A book stored before that change may still carry a ``recipients``
list; it is ignored.

Only the contact point (the ZVH) makes requests: a request from another partner is decided by the covenants like any
event and changes nothing here. An erasure that closes (every partner confirmed) is returned by
:meth:`RequestBook.confirm` so the hub can destroy the person's data key - which also forgets their recipients (the
crypto-shredding hook in :mod:`schakel.streams.requests_wiring`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schakel.consent import Decision, Outcome
from schakel.schemas import Organisation, SubjectRequestEvent

__all__ = ["CONTACT_POINT", "OpenRequest", "RequestBook"]

CONTACT_POINT = Organisation.ZVH
"""The organisation where a person makes a request (the WGS contact point)."""


@dataclass(frozen=True)
class OpenRequest:
    """A request some partner has not confirmed yet."""

    request_id: str
    request: str
    """What was asked (``schakel.schemas.SUBJECT_REQUEST_CODES``)."""
    received: datetime
    pending: tuple[str, ...]
    forwarded: tuple[str, ...] = ()
    """Every partner the request went to (the confirmed ones too); empty in a book written before it was kept."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "request": self.request,
            "received": self.received.isoformat(),
            "pending": list(self.pending),
            "forwarded": list(self.forwarded),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenRequest:
        pending = tuple(str(p) for p in data["pending"])
        return cls(
            request_id=str(data["id"]),
            request=str(data["request"]),
            received=datetime.fromisoformat(str(data["received"])),
            pending=pending,
            forwarded=tuple(str(p) for p in data.get("forwarded", ())),
        )

    def went_to(self, partner: str) -> bool:
        """Whether the request was forwarded to ``partner`` (an older book knows only who is still pending)."""
        return partner in self.pending or partner in self.forwarded


@dataclass(frozen=True)
class RequestBook:
    """One person's restriction and open requests."""

    restricted: str | None = None
    open: tuple[OpenRequest, ...] = field(default_factory=tuple)

    # -- state ------------------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "restricted": self.restricted,
            "open": [request.to_json() for request in self.open],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RequestBook:
        if not data:
            return cls()
        return cls(
            restricted=data.get("restricted"),
            open=tuple(OpenRequest.from_json(r) for r in data.get("open", ())),
        )

    @property
    def empty(self) -> bool:
        """Nothing to remember: no restriction, no open request (the table keeps no entry for it)."""
        return self.restricted is None and not self.open

    # -- steps ------------------------------------------------------------------------------------------------------

    def request(self, event: SubjectRequestEvent, decisions: Iterable[Decision], now: datetime) -> RequestBook:
        """The book once the contact point's request ``event`` went out with these (already routed) decisions."""
        asked = event.payload.request
        pending = tuple(sorted({str(d.recipient) for d in decisions if d.outcome is not Outcome.DENY}))
        book = self
        if asked == "restriction":
            book = replace(book, restricted=str(event.id))
        elif asked == "restriction-lifted":
            book = replace(book, restricted=None)
        if pending and all(r.request_id != str(event.id) for r in book.open):
            book = replace(book, open=(*book.open, OpenRequest(str(event.id), asked, now, pending, pending)))
        return book

    def not_forwarded(self, event: SubjectRequestEvent) -> bool:
        """Whether ``event`` confirms an open request that was never forwarded to its sender - refused by the hub.
        (A confirmation of an unknown or closed request cannot be told from a late repeat and changes nothing.)"""
        target, sender = str(event.payload.confirms), str(event.source)
        return any(r.request_id == target and not r.went_to(sender) for r in self.open)

    def confirm(self, event: SubjectRequestEvent) -> tuple[RequestBook, OpenRequest | None, OpenRequest | None]:
        """The book once a partner's confirmation ``event`` is taken into account; the request it confirmed (None:
        nothing to confirm) and the request it closed (None: still open, or nothing confirmed)."""
        target = str(event.payload.confirms)
        sender = str(event.source)
        for index, request in enumerate(self.open):
            if request.request_id != target or sender not in request.pending:
                continue
            left = tuple(p for p in request.pending if p != sender)
            if left:
                updated = (*self.open[:index], replace(request, pending=left), *self.open[index + 1 :])
                return replace(self, open=updated), request, None
            rest = (*self.open[:index], *self.open[index + 1 :])
            return replace(self, open=rest), request, request
        return self, None, None
