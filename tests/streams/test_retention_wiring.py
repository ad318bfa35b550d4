"""The hub's sealing step without Kafka (:class:`RetentionKeeper`): every copy of an event sealed with the person's
live key, a shredded key never used again for the person's next event, and a dead letter sealed with the key the
event's look-up returned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schakel.consent import SubjectState, load_policy
from schakel.retention import KEY_HEADER, KeyStore, Opener, Sealer, SealError
from schakel.schemas import EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import DeadLetter, Message, ingress_message
from schakel.streams.retention_wiring import RetentionKeeper

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)


def _key_ids(messages: list[Message], egress: str) -> set[str]:
    return {v.decode() for m in messages if m.topic.startswith(egress) for k, v in m.headers if k == KEY_HEADER}


def test_each_copy_is_sealed_with_the_persons_live_key_and_a_shredded_key_is_not_used_again(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="unit.", data_dir=tmp_path)
    store = KeyStore.of(settings)
    processor = Processor(settings, load_policy(), clock=lambda: NOW)
    keeper = RetentionKeeper(settings, processor.policy, Sealer(store), processor.clock)
    opener, egress = Opener(KeyStore.of(settings)), f"{settings.topic_prefix}egress."  # a sink: its own connection
    first = example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value)
    person: dict[str, Any] = {"subject": first.subject.model_dump(mode="json"), "case_id": first.case_id}

    def deliver(offset: int) -> tuple[str, list[Message]]:
        event = example_event(EventType.SIGNAL, Theme.LVB, source=Organisation.POLITIE.value, **person)
        message = ingress_message(event, settings)
        accepted = processor.accept(Record(message.topic, 0, offset, message.key, message.value, []))
        assert isinstance(accepted, Accepted)
        routed = processor.decide(accepted, SubjectState(), accepted.pseudonym)
        sealed = keeper.seal(accepted, accepted.pseudonym, routed.decisions, routed.messages)
        copies = [m for m in sealed if m.topic.startswith(egress)]
        assert len(copies) >= 2, "the event must reach several partners, or one cipher per event proves nothing"
        for copy in copies:
            assert opener.open_copy(copy.value, copy.headers), "every copy opens with the person's live key"
        assert len(_key_ids(sealed, egress)) == 1, "one key for all the copies of one event"
        return accepted.pseudonym, copies

    subject, before = deliver(1)
    (old_key,) = _key_ids(before, egress)
    assert store.shred_subject(subject, "erasure") == 1
    _, after = deliver(2)
    assert _key_ids(after, egress) != {old_key}, "the next event gets a new key, never the shredded one"
    for copy in before:
        with pytest.raises(SealError, match="destroyed"):
            opener.open_copy(copy.value, copy.headers)


def test_a_dead_letter_about_a_person_is_sealed_with_their_key_and_noted(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="unit.", data_dir=tmp_path)
    store = KeyStore.of(settings)
    keeper = RetentionKeeper(settings, load_policy(), Sealer(store), lambda: NOW)
    record = Record("unit.ingress.politie", 3, 42, b"k", b"the original value", [])
    dead = DeadLetter("MessageSizeTooLargeError", "too large", record.topic, 3, 42, time=NOW, subject="a-person")
    sealed = keeper.seal_dead_letter(record, dead, Message("unit.dlq", b"k", record.value, dead.headers()))
    assert sealed.value != record.value
    assert Opener(store).open_dead_letter(sealed.value, sealed.headers) == b"the original value"
    assert dict(sealed.headers)[KEY_HEADER].decode() == store.key_for("a-person")[0], "the person's own key"
    assert store.facts("a-person") is not None, "and the retention clock knows the person"
