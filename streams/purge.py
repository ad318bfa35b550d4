"""The purge: what the hub's tables hold about a retired person, and which entries a purge command removes. Pure.

A person is known by several pseudonyms - their BSN's and each case id's (``schakel.streams.hub``) - and the hub's
tables keep entries under each of them, always on the partition of that pseudonym (Faust writes a table change to
the changelog partition of the record being processed, and every record that writes an entry under pseudonym ``X``
is keyed by ``X``):

================== ========================================= ===================================================
table              key                                       written on the partition of
================== ========================================= ===================================================
``subjects``       ``X`` (the person; a case while it was     ``X``
                   its own person)
``agenda``         ``X``                                     ``X``
``subject-requests`` ``X``                                   ``X``
``links``          a case ``C`` -> its person ``P``;          ``C``; ``P``
                   ``P`` -> ``{"cases": [C, ...],
                   "pending": [...], "via": {...}}``
``event-ids``      ``X/<source>/<event id>`` (``X``: the      ``X``
                   ingress record's key)
================== ========================================= ===================================================

So a purge command keyed by ``X`` on ``<app id>-purge`` (co-partitioned with the ingress topics) reaches the worker
that owns every entry under ``X``, and its deletes write tombstones to the partition that holds the entries. The
retention job sends one command per person (:data:`PURGE`, keyed by the person); that worker reads the person's
reverse link (the cases linked to them) and sends one :func:`linked_command` per case, keyed by the case, which the
case's worker carries out - so the purge reaches the ``links`` entries and the case-keyed entries on other partitions
and other workers too. The reverse link is written where the person's events are decided, the first time an event
names a case of theirs (:func:`with_case`); beside the cases it holds the positions of the person's events still
on the long path and the ``hub-link`` key each went under (``schakel.streams.shortpath``), which go with it: the
person's events after the purge start anew.

What goes (:func:`purge_steps`): the entries keyed by ``X`` in ``subjects``, ``agenda`` and the reverse link; the
``event-ids`` digests under ``X/``; a case's forward link only when the command comes from the person it links to
(a case retired as its own person while a living person holds its link keeps that link: the person's consent must
keep reaching the case's events); and the ``subject-requests`` book once no request in it is open. A book with an open
request keeps only its open requests - the contact point still owes the person an answer and tracks the partners'
confirmations - and leaves the table when the last one closes (an empty book is no entry: :func:`book_after`).
*Judgement call:* a restriction in force goes with the purge: it restricts the use of data that no longer exists, and
keeping it would keep the person in the table past their retention. (Who received data is the key store's record,
forgotten when the person's key is destroyed.)

*Carried out* (:func:`carry_out`): the cases are told first, each command confirmed by the broker (a crash after that
repeats the command, which is acknowledged only once carried out; a command the broker refuses is sent again until it
is stored, the purge waiting - never abandoned half-way); while the worker waits for the broker its agents go
on, so what the tables hold is read again after the last wait and the deletes are made from that reading with no
wait in between - a request the person opened meanwhile stays in the book, a case linked meanwhile is told too,
instead of both being overwritten by what was read before the waits. And if the partition is revoked while the
purge waits (``held``), it makes no deletes and stops telling cases: the partition's next owner may already have
carried the command out and recorded the person's later events, which the deletes would remove from the changelog it
keeps (the command, left unacknowledged, is carried out by that owner).

Keys are pseudonyms (HMAC) and ``pseudonym/organisation code/UUID``: no personal data. *Cost:* the ``event-ids``
entries of ``X`` are found by a scan of the keys the worker holds (the in-memory store has no prefix index): one pass
per purge command, on the retention job's schedule, never on the event path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from schakel.streams.requests import RequestBook
from schakel.streams.retry import until_stored

__all__ = [
    "PURGE",
    "PurgeCommand",
    "PurgeSteps",
    "book_after",
    "carry_out",
    "linked_cases",
    "linked_command",
    "parse_command",
    "purge_steps",
    "with_case",
]

_log = logging.getLogger("schakel.streams")

PURGE = b"purge"
"""The retention job's command: purge the person with this key (and, through their reverse link, their cases)."""

_LINKED = b"purge-linked:"


def linked_command(person: str) -> bytes:
    """The command for a case of ``person`` (keyed by the case): its entries go, and its link to ``person``."""
    return _LINKED + person.encode()


@dataclass(frozen=True)
class PurgeCommand:
    """A purge command read back: the pseudonym it is keyed by, and the person it came from (a linked case)."""

    key: str
    person: str | None = None


def parse_command(key: bytes | None, value: bytes | None) -> PurgeCommand | None:
    """The command in a record of the purge topic (None: not one - ignored)."""
    if not key:
        return None
    if value == PURGE:
        return PurgeCommand(key.decode())
    if value is not None and value.startswith(_LINKED) and len(value) > len(_LINKED):
        return PurgeCommand(key.decode(), value[len(_LINKED) :].decode())
    return None


def linked_cases(entry: Any) -> tuple[str, ...]:
    """The case pseudonyms a person's reverse link names (none for a forward link, a missing or a foreign entry)."""
    if not isinstance(entry, Mapping):
        return ()
    cases = entry.get("cases")
    return tuple(str(case) for case in cases) if isinstance(cases, list) else ()


def with_case(entry: Any, case: str) -> dict[str, Any] | None:
    """The person's reverse link once it names ``case`` (None: it already does); what else it holds (the positions
    pending on the long path, ``schakel.streams.shortpath``) stays."""
    known = linked_cases(entry)
    if case in known:
        return None
    kept = dict(entry) if isinstance(entry, Mapping) else {}
    return {**kept, "cases": [*known, case]}


def book_after(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``subject-requests`` entry after a purge: only the open requests, or None (no entry) when none is open."""
    book = RequestBook.from_json(stored)
    if not book.open:
        return None
    return RequestBook(open=book.open).to_json()


@dataclass(frozen=True)
class PurgeSteps:
    """What one purge command does on the worker that owns its key."""

    delete: dict[str, tuple[bytes, ...]]
    """Per table, the keys to delete (tombstones on its changelog)."""
    keep_book: dict[str, Any] | None
    """The ``subject-requests`` book to write back (its open requests), or None."""
    cases: tuple[str, ...]
    """The cases to send a :func:`linked_command` to (keyed by each case) before the reverse link goes."""


def purge_steps(
    command: PurgeCommand,
    *,
    subjects: Any,
    agenda: Any,
    link: Any,
    book: Mapping[str, Any] | None,
    event_ids: Iterable[bytes],
) -> PurgeSteps:
    """The deletes for ``command`` given what the worker's tables hold under its key (``subjects``, ``agenda``,
    ``link`` and ``book``: the entries, None when absent; ``event_ids``: every key of the ``event-ids`` table the
    worker holds)."""
    key = command.key.encode()
    prefix = key + b"/"
    delete: dict[str, tuple[bytes, ...]] = {
        "subjects": (key,) if subjects is not None else (),
        "agenda": (key,) if agenda is not None else (),
        "event-ids": tuple(k for k in event_ids if k.startswith(prefix)),
    }
    cases = linked_cases(link)
    if cases:
        unlink = True  # the person's reverse link
    elif isinstance(link, str):
        unlink = command.person is not None and link == command.person  # a case's link, purged with its person
    else:
        unlink = link is not None
    delete["links"] = (key,) if unlink else ()
    kept = book_after(book) if book is not None else None
    if book is not None and kept is None:
        delete["subject-requests"] = (key,)
    else:
        delete["subject-requests"] = ()
    return PurgeSteps(delete=delete, keep_book=kept if kept != book else None, cases=cases)


async def carry_out(
    command: PurgeCommand,
    tables: Mapping[str, MutableMapping[bytes, Any]],
    tell_case: Callable[[str], Awaitable[None]],
    held: Callable[[], bool] = lambda: True,
) -> PurgeSteps | None:
    """Carry out ``command`` on the worker that owns its key: ``tell_case`` sends a case its :func:`linked_command`
    and returns once the broker stored it (raises if it did not: tried again until it is, the command unacknowledged
    meanwhile, as the hub's dead letters and notices are - a raise out of the purge agent abandoned the command
    half-way until the partition was next taken up, the person's entries kept though their key was destroyed); then
    the deletes of :func:`purge_steps`, read from the tables as they are after the last wait. Returns the steps
    made; None, with nothing deleted, when ``held`` (whether the worker still holds the command's partition) turned
    false during a wait - the command is then the partition's next owner's to carry out."""
    key = command.key.encode()
    told: set[str] = set()
    while True:
        steps = purge_steps(
            command,
            subjects=tables["subjects"].get(key),
            agenda=tables["agenda"].get(key),
            link=tables["links"].get(key),
            book=tables["subject-requests"].get(key),
            event_ids=list(tables["event-ids"].keys()),
        )
        untold = [case for case in steps.cases if case not in told]
        if not untold:
            break
        for case in untold:  # the agents go on meanwhile: read the tables again after
            await _until_stored(tell_case, case, held)
            if not held():
                return None
            told.add(case)
    if steps.keep_book is not None:
        tables["subject-requests"][key] = steps.keep_book
    for table, keys in steps.delete.items():
        for gone in keys:
            del tables[table][gone]
    return steps


async def _until_stored(tell_case: Callable[[str], Awaitable[None]], case: str, held: Callable[[], bool]) -> None:
    """``tell_case(case)``, tried again until the broker stored it (the error's class logged, never the case), or
    until the partition is no longer ``held``."""

    async def attempt(_tries: int) -> None:
        if held():
            await tell_case(case)

    def failed(error: Exception, tries: int) -> None:
        _log.error(
            "a case's purge command was not produced (%s), attempt %d; the purge waits", type(error).__name__, tries
        )

    await until_stored(attempt, failed)
