"""Which events the ingress step decides at once, and the person's pending positions (pure; on the broker:
test_shortpath_pipeline.py)."""

from __future__ import annotations

from pathlib import Path

from schakel.consent import load_policy
from schakel.schemas import EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.purge import PurgeCommand, linked_cases, purge_steps, with_case
from schakel.streams.records import SETTLED_HEADER, THROUGH_HEADER, Message, ingress_message
from schakel.streams.shortpath import (
    LongPath,
    decided_at_ingress,
    is_notice,
    long_path,
    passed_person,
    pending_positions,
    position,
    settled_notice,
    with_pending,
    without_pending,
)

PERSON, CASE, OTHER = "p3rs0n", "c4s3", "0th3r"
FIRST, SECOND = position("t.ingress.politie", 1, 7), position("t.ingress.om", 1, 8)
THIRD = position("t.ingress.om", 1, 9)


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


def test_a_linked_case_held_back_queues_behind_the_persons_last_pending_event() -> None:
    """Case ``CASE`` linked, an event of ``OTHER`` pending (forwarded keyed by ``OTHER``): the next ``CASE`` event
    goes to hub-link keyed by ``OTHER`` too, passing through - behind the pending one on the same partition."""
    linked = with_case(with_case(None, CASE), OTHER)
    pending = with_pending(linked, FIRST, OTHER)
    assert long_path(pending, CASE, SECOND) == LongPath(OTHER, through=True)
    queued = with_pending(pending, SECOND, OTHER)
    assert long_path(queued, CASE, THIRD) == LongPath(OTHER, through=True), "behind the last, which went there too"
    assert long_path(queued, CASE, SECOND) == LongPath(OTHER, through=True), "delivered again: the way it went"
    assert long_path(queued, OTHER, THIRD) == LongPath(OTHER, through=True)


def test_a_case_not_linked_yet_goes_to_its_own_link_step() -> None:
    pending = with_pending(with_case(None, CASE), FIRST, CASE)
    assert long_path(pending, OTHER, SECOND) == LongPath(OTHER, through=False), "the link step must look it up"
    assert long_path(None, OTHER, SECOND) == LongPath(OTHER, through=False)


def test_an_entry_without_the_pending_keys_falls_back_to_the_cases_own_partition() -> None:
    """A reverse link written before it kept each pending position's hub-link key: the event goes keyed by its own
    case, through the link step, as before (the order between two cases is then the link step's)."""
    old = {"cases": [CASE, OTHER], "pending": [FIRST]}
    assert long_path(old, CASE, SECOND) == LongPath(CASE, through=False)
    marked = with_pending(old, SECOND, CASE)
    assert long_path(marked, CASE, THIRD) == LongPath(CASE, through=True), "the last pending one's key is known"
    assert long_path(without_pending(marked, SECOND), CASE, THIRD) == LongPath(CASE, through=False)


def test_the_pending_keys_go_with_their_positions() -> None:
    entry = with_pending(with_pending(with_case(None, CASE), FIRST, CASE), SECOND, OTHER)
    assert with_pending(entry, SECOND, CASE) == entry, "a position keeps the key it went under"
    assert without_pending(entry, FIRST) == {"cases": [CASE], "pending": [SECOND], "via": {SECOND: OTHER}}
    assert without_pending(without_pending(entry, FIRST), SECOND) == {"cases": [CASE]}
    assert without_pending(with_pending(None, FIRST, CASE), FIRST) is None, "nothing left: no entry"
    steps = purge_steps(PurgeCommand(PERSON), subjects=None, agenda=None, link=entry, book=None, event_ids=[])
    assert steps.delete["links"] == (PERSON.encode(),)
    assert steps.cases == (CASE,)


def test_a_sender_cannot_make_its_record_pass_through(tmp_path: Path) -> None:
    """The pass-through mark is the hub's own: an ingress record carrying it loses it when forwarded, so the link
    step looks its case up as any other (a forged mark would reach the named person's decisions unchecked)."""
    processor = Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())
    event = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE, case_id="ZVH-2026-76001")
    message = ingress_message(event, processor.settings)
    headers = [*message.headers, (THROUGH_HEADER, b"v1ct1m")]
    accepted = processor.accept(Record(message.topic, 0, 7, message.key, message.value, headers))
    assert isinstance(accepted, Accepted)
    assert accepted.case is not None
    plain = processor.forward(accepted, "unit.hub-link", accepted.case)
    assert passed_person(plain.headers) is None
    through = processor.forward(accepted, "unit.hub-link", OTHER, through=accepted.pseudonym)
    assert passed_person(through.headers) == accepted.pseudonym
    back, _ = Processor.forwarded(Record(through.topic, 0, 0, through.key, through.value, through.headers))
    assert passed_person(back.headers) is None, "the person step's record carries no mark"


def test_a_sender_cannot_make_its_record_a_settled_notice(tmp_path: Path) -> None:
    """The settled mark is the hub's own too: an ingress record carrying it, forwarded on the long path, must reach
    the link step as an event - taken for a notice it was acknowledged there, neither decided nor dead-lettered."""
    processor = Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())
    event = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE, case_id="ZVH-2026-76002")
    message = ingress_message(event, processor.settings)
    headers = [*message.headers, (SETTLED_HEADER, b"1")]
    accepted = processor.accept(Record(message.topic, 0, 7, message.key, message.value, headers))
    assert isinstance(accepted, Accepted)
    assert accepted.case is not None
    forward = processor.forward(accepted, "unit.hub-link", accepted.case)
    assert not is_notice(forward.headers)
