"""The feed's join of copies and decisions, without Kafka (records as the consumer hands them over)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

from schakel.console.feed import Feed
from schakel.retention import Sealer
from schakel.schemas import Codec, EventType, Theme, cloudevent_headers
from schakel.schemas.examples import example_form
from schakel.settings import Settings
from schakel.streams.topics import HubTopics
from tests.lineage.factory import decision

SETTINGS = Settings(topic_prefix="f.")
TOPICS = HubTopics.of(SETTINGS)


@dataclass
class _Record:
    topic: str
    value: bytes
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def _copy() -> tuple[str, _Record]:
    form = example_form(EventType.REFERRAL, theme=Theme.CTER)
    headers = [*cloudevent_headers(form, {}), ("schakel-recipient", b"zvh")]
    value, sealed = Sealer.of(SETTINGS).seal_copy("subject-pseudonym", Codec().encode_json(form), headers)
    return form["id"], _Record(TOPICS.egress("zvh"), value, headers=tuple(sealed))


def _decision(event_id: str) -> _Record:
    record = decision(event_id=UUID(event_id), recipient="zvh", outcome="partial", fields_withheld=("goal",))
    return _Record(TOPICS.lineage, record.to_bytes())


def test_a_copy_waits_for_its_decision() -> None:
    feed = Feed(SETTINGS)
    queue = feed.subscribe("zvh")
    event_id, copy = _copy()
    feed._take(copy)
    assert feed.items("zvh") == []
    feed._take(_decision(event_id))
    item = queue.get_nowait()
    assert item.decision is not None
    assert item.decision.fields_withheld == ("goal",)
    assert feed.items("zvh") == [item]


def test_a_decision_read_first_is_used_at_once_and_duplicates_are_dropped() -> None:
    feed = Feed(SETTINGS)
    event_id, copy = _copy()
    feed._take(_decision(event_id))
    feed._take(copy)
    feed._take(copy)
    assert [item.event_id for item in feed.items("zvh")] == [event_id]
    assert feed.items("zvh")[0].decision is not None


def test_without_a_decision_the_copy_is_shown_after_the_wait_and_completed_later() -> None:
    feed = Feed(SETTINGS, decision_wait=0.0)
    event_id, copy = _copy()
    feed._take(copy)
    time.sleep(0.01)
    feed._release_overdue()
    assert feed.items("zvh")[0].decision is None
    feed._take(_decision(event_id))
    assert feed.items("zvh")[0].decision is not None


def test_a_copy_is_only_in_its_recipients_inbox_and_bad_bytes_are_skipped() -> None:
    feed = Feed(SETTINGS)
    event_id, copy = _copy()
    feed._take(_decision(event_id))
    feed._take(copy)
    feed._take(_Record(TOPICS.egress("ggz"), b"\xc3\x01not avro"))
    feed._take(_Record(TOPICS.lineage, b"{}"))
    assert feed.items("ggz") == []
    assert feed.item("politie", event_id) is None
    assert feed.item("zvh", event_id) is not None
