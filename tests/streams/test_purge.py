"""What a purge command removes from the hub's tables (pure; the broker test is test_retention_run.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from schakel.streams.purge import (
    PURGE,
    PurgeCommand,
    book_after,
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
