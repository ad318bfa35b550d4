"""The bench's measuring stick for issue 14 (``tests/bench/_lean.py``) does the hub's work, not less: for a case's
life, every event comes to the records the streams bench expects of the hub - a sealed copy per permitted
recipient, a lineage record per decision and the link record - and the table entries it changed. No Kafka."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from schakel.retention.sealing import is_sealed
from schakel.settings import Settings
from schakel.streams.processor import Record
from tests.bench._lean import LeanHub
from tests.bench.streams import CASE_LIFE, _expected_outputs, _messages, _outputs


def test_every_event_comes_to_the_hubs_outputs_sealed_and_its_state_written(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="lean.", data_dir=tmp_path, environment="development")
    messages, expected = _messages(settings, 50, CASE_LIFE)
    hub = LeanHub(settings)
    outputs = 0
    per_topic: Counter[str] = Counter()
    for offset, message in enumerate(messages):
        made = hub.handle(Record(message.topic, 0, offset, message.key, message.value, list(message.headers)))
        for record in made:
            per_topic[record.topic.removeprefix("lean.").split(".")[0]] += 1
            if record.topic.startswith(("lean.egress.", "lean.lineage")):
                outputs += _outputs(record.value)
            if record.topic.startswith("lean.egress."):
                assert is_sealed(record.value)
    assert outputs == expected == _expected_outputs(messages)
    assert per_topic["lineage"] == len(messages)  # one pack per event
    # changelog records: event-ids for every event; a person's first event also its case's link, the person's cases
    # and agenda; a signal changes no consent, so the subjects table stays empty, as the hub's does
    people = {message.key for message in messages}
    assert len(people) < len(messages)  # follow-ups: the same people again
    assert len(hub.ids) == len(messages)
    assert len(hub.agenda) == len(people)
    assert not hub.subjects
    agenda_writes = sum(len(agenda["signals"]) for agenda in hub.agenda.values())
    assert per_topic["hub-link"] == len(messages) + 2 * len(people) + agenda_writes
