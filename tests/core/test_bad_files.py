"""The bad-input corpus of the command line's file entry points: ``schakel send``, ``schakel consent decide`` and
``explain`` (``--event`` and ``--consent``), ``schakel schemas validate``.

Each case gives one command one bad file and asserts: it fails with a reason that names the file; nothing was done
(no decision printed, nothing published); the same command then takes the good file; no personal value of the
person the file is about appears in the output or a log line. ``schakel send`` publishes to the real broker (topics
of this test's own prefix), so "nothing published" is read back from Kafka.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from schakel.cli import app
from schakel.settings import Settings, settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HubTopics
from tests.streams.conftest import _delete_topics
from tests.streams.corpus import PERSONAL, person_form

runner = CliRunner()


def _changed(change: Callable[[dict[str, Any]], None]) -> bytes:
    form = person_form()
    change(form)
    return json.dumps(form).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(form: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = form
        for part in parents:
            target = target[part]
        target[last] = value

    return change


_BSN, _NAME, _TEXT = PERSONAL[0], PERSONAL[1], PERSONAL[2]
_LABEL = f"{_NAME} (BSN {_BSN})"

CONTENTS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\t ",
    "text-with-personal-data": f"BSN {_BSN}, {_NAME}: {_TEXT}".encode(),
    "binary": bytes(range(256)),
    "latin1-not-utf8": f"{_NAME} Zoë".encode("latin-1"),
    "utf16": json.dumps(person_form()).encode("utf-16"),
    "truncated-json": json.dumps(person_form()).encode()[:-40],
    "json-null": b"null",
    "json-number": b"42",
    "json-string-a-name": json.dumps(_NAME).encode(),
    "json-list-of-garbage": json.dumps([_NAME, 1, None]).encode(),
    "json-deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "json-empty-object": b"{}",
    "bsn-fails-11-test": _changed(_set("subject.bsn", "123456789")),
    "bsn-is-a-name": _changed(_set("subject.bsn", _NAME)),
    "name-too-long": _changed(_set("subject.name", _NAME * 40)),
    "text-too-long": _changed(_set("payload.observed_behaviour", _TEXT * 200)),
    "unknown-field-named-after-a-person": _changed(lambda form: form["payload"].update({_LABEL: _TEXT})),
    "unknown-envelope-field-named-after-a-person": _changed(lambda form: form.update({_LABEL: _BSN})),
    "unknown-type": _changed(_set("type", "Gossip")),
    "type-of-another-payload": _changed(_set("type", "Referral")),
    "source-unknown": _changed(_set("source", _NAME)),
    "time-in-the-future": _changed(_set("time", "2099-01-01T00:00:00Z")),
    "time-a-name": _changed(_set("time", _NAME)),
    "id-a-name": _changed(_set("id", _NAME)),
    "no-bsn-no-case": _changed(lambda form: form.update(case_id=None, subject={**form["subject"], "bsn": None})),
    "payload-a-string": _changed(_set("payload", _TEXT)),
    "subject-a-string": _changed(_set("subject", _NAME)),
    "oversized": _changed(_set("payload.description", _TEXT * 12_000)),
}


@dataclass(frozen=True)
class Command:
    """One file entry point: how to call it with a file, and what proves it did nothing."""

    name: str
    args: Callable[[Path], list[str]]
    did_nothing: Callable[[str], bool]


def _decision_printed(output: str) -> bool:
    return '"outcome"' in output or ("outcome" in output.lower() and "error" not in output.lower())


COMMANDS = (
    Command(
        "consent-decide-event",
        lambda path: ["consent", "decide", "--event", str(path), "--to", "om"],
        lambda output: not _decision_printed(output),
    ),
    Command(
        "consent-explain-event",
        lambda path: ["consent", "explain", "--event", str(path), "--to", "om"],
        lambda output: "error" in output.lower(),
    ),
    Command(
        "schemas-validate",
        lambda path: ["schemas", "validate", str(path)],
        lambda output: ": OK" not in output,
    ),
)


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(person_form()))
    return path


def _check(result_output: str, caplog: pytest.LogCaptureFixture) -> None:
    for value in PERSONAL:
        assert value not in result_output, "a personal value in the command's output"
        assert value not in caplog.text, "a personal value in a log line"


@pytest.mark.parametrize("content", CONTENTS, ids=str)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_a_bad_file_is_refused_with_its_reason_and_the_good_one_then_taken(
    command: Command, content: str, tmp_path: Path, good_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = tmp_path / f"{content}.json"
    bad.write_bytes(CONTENTS[content])

    refused = runner.invoke(app, command.args(bad))

    assert refused.exit_code in (1, 2), refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit), repr(refused.exception)
    assert bad.name in refused.output.replace("\n", ""), "the reason names the file"
    assert command.did_nothing(refused.output)
    _check(refused.output, caplog)

    taken = runner.invoke(app, command.args(good_file))
    assert taken.exit_code == 0, taken.output


@pytest.mark.parametrize("content", CONTENTS, ids=str)
def test_a_bad_consent_file_is_refused_and_no_decision_is_made(
    content: str, tmp_path: Path, good_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = tmp_path / f"{content}.json"
    bad.write_bytes(CONTENTS[content])
    args = ["consent", "decide", "--event", str(good_file), "--to", "om", "--consent"]

    refused = runner.invoke(app, [*args, str(bad)])

    assert refused.exit_code in (1, 2), refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit), repr(refused.exception)
    assert bad.name in refused.output.replace("\n", "")
    assert not _decision_printed(refused.output)
    _check(refused.output, caplog)
    good_consent = tmp_path / "no-consent.json"
    good_consent.write_text("[]")
    assert runner.invoke(app, [*args, str(good_consent)]).exit_code == 0


def _published(configured: Settings, topic: str) -> int:
    """How many records ``topic`` holds (its end offsets: exact, no waiting)."""
    consumer = KafkaConsumer(**configured.kafka_client_config(ADMIN))
    try:
        partitions = [TopicPartition(topic, partition) for partition in range(configured.partitions)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def send_settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    import uuid

    prefix = f"f{uuid.uuid4().hex[:10]}."
    configured = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=1)
    provision(configured, [HubTopics.of(configured).ingress("politie")])  # `send --as politie` writes as politie
    patch = pytest.MonkeyPatch()
    patch.setenv("SCHAKEL_KAFKA_BOOTSTRAP", kafka_bootstrap)
    patch.setenv("SCHAKEL_TOPIC_PREFIX", prefix)
    patch.setenv("SCHAKEL_PARTITIONS", "1")
    settings.cache_clear()
    yield configured
    patch.undo()
    settings.cache_clear()
    _delete_topics(configured)


@pytest.mark.kafka
@pytest.mark.parametrize("content", CONTENTS, ids=str)
def test_schakel_send_refuses_a_bad_file_publishes_nothing_and_then_sends_the_good_one(
    content: str, tmp_path: Path, good_file: Path, send_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    topic = HubTopics.of(send_settings).ingress("politie")
    before = _published(send_settings, topic)
    bad = tmp_path / f"{content}.json"
    bad.write_bytes(CONTENTS[content])
    caplog.clear()  # only the command's own log lines

    refused = runner.invoke(app, ["send", "--as", "politie", str(bad)])

    assert refused.exit_code in (1, 2), refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit), repr(refused.exception)
    assert bad.name in refused.output.replace("\n", "")
    _check(refused.output, caplog)
    taken = runner.invoke(app, ["send", "--as", "politie", str(good_file)])
    assert taken.exit_code == 0, taken.output
    assert _published(send_settings, topic) == before + 1, "only the good file was published"
