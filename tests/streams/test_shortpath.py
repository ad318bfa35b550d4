"""Which events the ingress step decides at once, and the person's pending positions (pure; on the broker:
test_shortpath_pipeline.py)."""

from __future__ import annotations

from schakel.streams.processor import Processor, Record
from schakel.streams.purge import PurgeCommand, linked_cases, purge_steps, with_case
from schakel.streams.records import Message
from schakel.streams.shortpath import (
    decided_at_ingress,
    is_notice,
    pending_positions,
    position,
    settled_notice,
    with_pending,
    without_pending,
)

PERSON, CASE, OTHER = "p3rs0n", "c4s3", "0th3r"
FIRST, SECOND = position("t.ingress.politie", 1, 7), position("t.ingress.om", 1, 8)


def test_only_a_linked_case_with_nothing_pending_is_decided_at_ingress() -> None:
    assert not decided_at_ingress(None, CASE), "a person the hub has not seen"
    linked = with_case(None, CASE)
    assert decided_at_ingress(linked, CASE)
    assert not decided_at_ingress(linked, OTHER), "a case not (yet) linked to this person: the link step decides"
    assert not decided_at_ingress(PERSON, CASE), "a forward link is not a person's entry"
    waiting = with_pending(linked, FIRST)
    assert not decided_at_ingress(waiting, CASE), "behind an event still on the long path"
    assert decided_at_ingress(without_pending(waiting, FIRST), CASE)


def test_pending_is_a_set_so_a_replay_changes_nothing() -> None:
    once = with_pending(None, FIRST)
    assert with_pending(once, FIRST) == once
    both = with_pending(once, SECOND)
    assert pending_positions(both) == (FIRST, SECOND)
    assert without_pending(both, FIRST) == {"pending": [SECOND]}
    assert without_pending(without_pending(both, FIRST), FIRST) == {"pending": [SECOND]}
    assert without_pending(once, FIRST) is None, "nothing left: no entry"
    assert without_pending(None, FIRST) is None


def test_cases_and_pending_positions_keep_each_other() -> None:
    entry = with_case(with_pending(None, FIRST), CASE)
    assert entry is not None
    assert linked_cases(entry) == (CASE,)
    assert pending_positions(entry) == (FIRST,)
    cleared = without_pending(entry, FIRST)
    assert cleared == {"cases": [CASE]}
    assert with_pending(cleared, SECOND) == {"cases": [CASE], "pending": [SECOND]}


def test_a_purge_takes_the_pending_positions_with_the_reverse_link() -> None:
    for entry in (with_pending(None, FIRST), with_case(with_pending(None, FIRST), CASE)):
        steps = purge_steps(PurgeCommand(PERSON), subjects=None, agenda=None, link=entry, book=None, event_ids=[])
        assert steps.delete["links"] == (PERSON.encode(),)


def test_a_notice_names_the_origin_the_person_step_reads_back() -> None:
    origin = Record("t.ingress.politie", 1, 7, PERSON.encode(), b"event", [("ce_id", b"x")])
    notice = settled_notice("t.hub-person", origin)
    assert isinstance(notice, Message)
    assert (notice.topic, notice.key, notice.value) == ("t.hub-person", PERSON.encode(), b"")
    assert is_notice(notice.headers)
    back, merge = Processor.forwarded(Record(notice.topic, 1, 0, notice.key, notice.value, notice.headers))
    assert position(back.topic, back.partition, back.offset) == FIRST
    assert merge is None
    assert settled_notice("t.hub-person", Record("t.ingress.politie", 1, 7, None, b"", [])) is None
    assert not is_notice(origin.headers)
