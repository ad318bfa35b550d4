"""What a purge command removes from the hub's tables (pure; the broker test is test_retention_run.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaTimeoutError

from schakel.streams.purge import (
    PURGE,
    PurgeCommand,
    book_after,
    carry_out,
    linked_cases,
    linked_command,
    parse_command,
    purge_steps,
    with_case,
)
from schakel.streams.requests import OpenRequest, RequestBook

PERSON, CASE, OTHER = "p3rs0n", "c4s3", "0th3r"
IDS = [
    f"{PERSON}/politie/1".encode(),
    f"{CASE}/om/2".encode(),
    f"{OTHER}/politie/3".encode(),
    f"{PERSON}x/om/4".encode(),
]


def _open_book() -> dict[str, object]:
    request = OpenRequest("5d2f3a4e-0000-4000-8000-000000000001", "erasure", datetime(2026, 12, 1, tzinfo=UTC), ("om",))
    return RequestBook(restricted="r", open=(request,)).to_json()


def test_commands_read_back_and_anything_else_is_ignored() -> None:
    assert parse_command(PERSON.encode(), PURGE) == PurgeCommand(PERSON)
    assert parse_command(CASE.encode(), linked_command(PERSON)) == PurgeCommand(CASE, PERSON)
    assert parse_command(None, PURGE) is None
    assert parse_command(PERSON.encode(), b"something") is None
    assert parse_command(PERSON.encode(), None) is None


def test_the_reverse_link_gains_each_case_once() -> None:
    first = with_case(None, CASE)
    assert first == {"cases": [CASE]}
    assert with_case(first, CASE) is None
    assert linked_cases(with_case(first, "c2")) == (CASE, "c2")
    assert linked_cases(PERSON) == ()  # a forward link names no cases


def test_a_person_loses_every_entry_and_their_cases_are_purged_in_turn() -> None:
    steps = purge_steps(
        PurgeCommand(PERSON),
        subjects={"consent": {}},
        agenda={"signals": []},
        link={"cases": [CASE]},
        book=RequestBook(restricted="r").to_json(),
        event_ids=IDS,
    )
    assert steps.delete == {
        "subjects": (PERSON.encode(),),
        "agenda": (PERSON.encode(),),
        "event-ids": (f"{PERSON}/politie/1".encode(),),  # only this pseudonym's digests, not a longer one's
        "links": (PERSON.encode(),),
        "subject-requests": (PERSON.encode(),),
    }
    assert steps.cases == (CASE,)
    assert steps.keep_book is None


def test_a_case_purged_with_its_person_loses_its_link_too() -> None:
    steps = purge_steps(
        PurgeCommand(CASE, PERSON), subjects={"consent": {}}, agenda=None, link=PERSON, book=None, event_ids=IDS
    )
    assert steps.delete["links"] == (CASE.encode(),)
    assert steps.delete["subjects"] == (CASE.encode(),)
    assert steps.delete["event-ids"] == (f"{CASE}/om/2".encode(),)
    assert steps.cases == ()


def test_a_case_retired_as_its_own_person_keeps_the_link_a_living_person_holds() -> None:
    steps = purge_steps(PurgeCommand(CASE), subjects=None, agenda=None, link=OTHER, book=None, event_ids=IDS)
    assert steps.delete["links"] == ()
    assert steps.delete["event-ids"] == (f"{CASE}/om/2".encode(),)
    # Nor does a case purged with another person than the one it links to.
    foreign = purge_steps(PurgeCommand(CASE, PERSON), subjects=None, agenda=None, link=OTHER, book=None, event_ids=())
    assert foreign.delete["links"] == ()


def test_an_open_request_stays_until_it_closes_and_nothing_else_of_the_book_does() -> None:
    book = _open_book()
    kept = book_after(book)
    assert kept is not None
    assert RequestBook.from_json(kept) == RequestBook(open=RequestBook.from_json(book).open)
    steps = purge_steps(PurgeCommand(PERSON), subjects=None, agenda=None, link=None, book=book, event_ids=())
    assert steps.delete["subject-requests"] == ()
    assert steps.keep_book == kept
    # Purged again (a repeated command): nothing changes.
    again = purge_steps(PurgeCommand(PERSON), subjects=None, agenda=None, link=None, book=kept, event_ids=())
    assert again.keep_book is None
    assert again.delete["subject-requests"] == ()


def test_an_empty_book_is_no_entry() -> None:
    assert RequestBook().empty
    assert not RequestBook(open=(OpenRequest("x", "access", datetime(2026, 12, 1, tzinfo=UTC), ("om",)),)).empty
    assert not RequestBook(restricted="r").empty
    assert book_after(RequestBook(restricted="r").to_json()) is None


def test_a_purge_keeps_what_the_worker_wrote_while_it_waited_for_the_broker() -> None:
    """The person's cases are told first, each confirmed by the broker; meanwhile the worker's agents go on. A request
    the person opened and a case linked in that wait must survive the purge's deletes (the request stays open in the
    book, the new case is told too) - not be overwritten by what the purge read before it waited."""
    person = PERSON.encode()
    tables: dict[str, dict[bytes, Any]] = {
        "subjects": {person: {"consent": {}}},
        "agenda": {},
        "links": {person: {"cases": [CASE]}, CASE.encode(): PERSON},
        "event-ids": {key: "digest" for key in IDS},
        "subject-requests": {person: RequestBook(restricted="r").to_json()},  # nothing open: the book would go
    }
    told: list[str] = []

    async def tell_case(case: str) -> None:
        await asyncio.sleep(0)  # the broker's confirmation: the agents run meanwhile
        if not told:  # the person's request and a new case of theirs arrive during the first wait
            tables["subject-requests"][person] = _open_book()
            tables["links"][person] = {"cases": [CASE, "c2"]}
        told.append(case)

    steps = asyncio.run(carry_out(PurgeCommand(PERSON), tables, tell_case))

    assert steps is not None
    assert told == [CASE, "c2"], "a case linked while the purge waited is purged too"
    book = RequestBook.from_json(tables["subject-requests"][person])
    assert book.open == RequestBook.from_json(_open_book()).open, "the request opened meanwhile stays open"
    assert steps.keep_book == tables["subject-requests"][person]
    assert person not in tables["subjects"]
    assert person not in tables["links"]
    assert tables["event-ids"].keys() == set(IDS) - {f"{PERSON}/politie/1".encode()}
    assert CASE.encode() in tables["links"], "a case's own entries go with its own command, on its own worker"


def test_a_purge_whose_case_command_the_broker_refused_is_tried_again_not_abandoned() -> None:
    """The broker refuses a case's purge command once (a timeout, a leader moving). The purge must go on once it is
    stored - the case told, the person's entries gone - instead of raising out of the purge agent, which dropped the
    command unacknowledged and undone until the partition was next taken up (the person's key already destroyed)."""
    person = PERSON.encode()
    tables: dict[str, dict[bytes, Any]] = {
        "subjects": {person: {"consent": {}}},
        "agenda": {person: {}},
        "links": {person: {"cases": [CASE]}},
        "event-ids": {key: "digest" for key in IDS},
        "subject-requests": {},
    }
    tries: list[str] = []

    async def tell_case(case: str) -> None:
        tries.append(case)
        if len(tries) == 1:
            raise KafkaTimeoutError  # the broker did not store it
        await asyncio.sleep(0)

    asyncio.run(carry_out(PurgeCommand(PERSON), tables, tell_case))

    assert tries == [CASE, CASE], "the refused command is sent again"
    assert person not in tables["subjects"]
    assert person not in tables["agenda"]
    assert person not in tables["links"]
    assert not any(key.startswith(person + b"/") for key in tables["event-ids"])


def test_a_purge_whose_partition_was_revoked_while_it_waited_deletes_nothing() -> None:
    """The worker loses the person's partition while the purge waits for the broker (the broker test:
    test_purge_rebalance.py): the purge stops there - no more cases told, nothing deleted - and says so, leaving the
    command to the partition's next owner."""
    person = PERSON.encode()
    tables: dict[str, dict[bytes, Any]] = {
        "subjects": {person: {"consent": {}}},
        "agenda": {},
        "links": {person: {"cases": [CASE, "c2"]}},
        "event-ids": {key: "digest" for key in IDS},
        "subject-requests": {},
    }
    before = {name: dict(entries) for name, entries in tables.items()}
    told: list[str] = []
    held = [True]

    async def tell_case(case: str) -> None:
        await asyncio.sleep(0)
        told.append(case)
        held[0] = False  # a rebalance revoked the partition meanwhile

    steps = asyncio.run(carry_out(PurgeCommand(PERSON), tables, tell_case, lambda: held[0]))

    assert steps is None
    assert told == [CASE], "no case told after the partition was revoked"
    assert tables == before, "nothing deleted"
