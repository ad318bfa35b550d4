"""The bad-input corpus (``tests.streams.corpus``) through the hub's processing, without Kafka.

Each case: the record is dead-lettered under one of its expected error classes with a reason a user can act on;
nothing of it is decided or produced but its dead letter; the person's next good record is accepted and decided; no
personal value appears in the reason, the dead letter's key or headers, a log line or a span; the dead letter keeps
the event id the CloudEvents header carries. The real-broker sample of the same corpus is in
``test_bad_input_on_the_broker``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from schakel.consent import SubjectState, load_policy
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import DEAD_LETTER_HEADERS, DeadLetter, Message
from tests.streams.conftest import SPANS
from tests.streams.corpus import CASES, PERSONAL, Case, good_message, person_form

_exporter = SPANS  # one exporter for the area: the SDK is configured once per process


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    telemetry.configure_tracing("schakel-test", SimpleSpanProcessor(_exporter))


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Processor:
    data: Path = tmp_path_factory.mktemp("corpus")
    return Processor(Settings(topic_prefix="corpus.", data_dir=data), load_policy())


def _record(message: Message, offset: int) -> Record:
    return Record(message.topic, 0, offset, message.key, message.value, message.headers)


def test_the_corpus_is_large_and_its_cases_are_distinct() -> None:
    assert len(CASES) >= 150
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_bad_record_is_dead_lettered_alone_and_reveals_nothing(
    processor: Processor, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _exporter.clear()
    message = case.message(processor.settings)
    record = _record(message, 41)

    dead = processor.accept(record)

    assert isinstance(dead, DeadLetter), f"{case.name} was accepted"
    assert dead.error_class in case.expected, f"{case.name}: {dead.error_class}: {dead.reason}"
    assert 10 <= len(dead.reason) <= 400, "a reason a user can read"
    letter = processor.dead_letter_message(record, dead)
    assert letter.topic == processor.topics.dlq
    assert letter.key in (None, good_message(processor.settings).key), "never the original key"
    assert {name for name, _ in letter.headers} <= DEAD_LETTER_HEADERS
    good_id = person_form()["id"]
    assert dead.event_id == (good_id if case.keeps_event_id else None)

    good = processor.accept(_record(good_message(processor.settings), 42))
    assert isinstance(good, Accepted), "the next good record goes through"
    assert [m for m in processor.decide(good, SubjectState()).messages if m.topic.startswith("corpus.egress.")]

    revealed = " ".join(
        [
            dead.reason,
            (letter.key or b"").decode("utf-8", "replace"),
            *(value.decode("utf-8", "replace") for _, value in letter.headers),
            caplog.text,
            *(f"{span.name} {dict(span.attributes or {})}" for span in _exporter.get_finished_spans()),
        ]
    )
    for value in PERSONAL:
        assert value not in revealed, f"{case.name}: a personal value left the hub"
