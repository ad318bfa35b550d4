"""The hub puts the course of action in each copy it applies to (the envelope field ``course_of_action``) - chosen on
the copy, never on the event - and a sender's own value never travels."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schakel.consent import SubjectState, load_policy
from schakel.guidance import load_guidance
from schakel.schemas import SINGLE_OBJECT_MAGIC, Codec, EventType, Organisation, Theme, released_versions
from schakel.schemas._convert import json_schema
from schakel.schemas.examples import example_event, example_form
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import RECIPIENT_HEADER, EgressCopy, header, ingress_message


@pytest.fixture
def processor(tmp_path: Path) -> Processor:
    return Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())


def _copies(
    processor: Processor, event_type: EventType, theme: Theme, source: Organisation, **overrides: Any
) -> dict[str, EgressCopy]:
    event = example_event(
        event_type, theme, source=source.value, payload={"lvb_indication": "Moeite met lezen."}, **overrides
    )
    message = ingress_message(event, processor.settings)
    record = Record(message.topic, 0, 1, message.key, message.value, message.headers)
    accepted = processor.accept(record)
    assert isinstance(accepted, Accepted)
    routed = processor.decide(accepted, SubjectState())
    return {
        str(header(m.headers, RECIPIENT_HEADER)): EgressCopy.from_record(
            m.topic, m.key, m.value, m.headers, codec=Codec()
        )
        for m in routed.messages
        if m.topic.startswith("unit.egress.")
    }


def test_each_copy_carries_the_course_chosen_on_that_copy(processor: Processor) -> None:
    guidance = load_guidance()
    copies = _copies(processor, EventType.SIGNAL, Theme.LVB, Organisation.POLITIE)
    assert set(copies) >= {"om", "zvh"}
    for recipient, copy in copies.items():
        chosen = guidance.choose(recipient, copy.form)
        assert copy.guidance == (chosen.reference if chosen else None)
        field = copy.form["course_of_action"]
        assert field == ({"reference": chosen.id, "version": chosen.version} if chosen else None)
    assert copies["om"].guidance is not None
    assert copies["om"].guidance.startswith("lvb-indicatie-om@")


def test_a_withheld_field_never_selects_a_course(processor: Processor) -> None:
    # The police receives an LVB signal of the social domain without the LVB indication (a health datum): its copy
    # carries the police's LVB course, which depends on the theme alone - not the course for the indication.
    copies = _copies(processor, EventType.SIGNAL, Theme.LVB, Organisation.GEMEENTE_SOCIAAL)
    police = copies["politie"]
    assert police.form["payload"]["lvb_indication"] is None
    assert police.guidance is not None
    assert police.guidance.startswith("lvb-signaal-politie@")


def test_a_copy_without_an_applicable_course_carries_none_and_no_header_says_otherwise(processor: Processor) -> None:
    copies = _copies(processor, EventType.SIGNAL, Theme.OTHER, Organisation.POLITIE)
    assert copies
    assert all(copy.guidance is None for copy in copies.values())
    assert all(copy.form["course_of_action"] is None for copy in copies.values())
    assert all(not name.startswith("schakel-guidance") for copy in copies.values() for name, _ in copy.headers)


def test_a_senders_own_course_of_action_never_travels(processor: Processor) -> None:
    claimed = {"course_of_action": {"reference": "geldezel-om", "version": "0123456789ab"}}
    for copy in _copies(processor, EventType.SIGNAL, Theme.OTHER, Organisation.POLITIE, **claimed).values():
        assert copy.form["course_of_action"] is None
    copies = _copies(processor, EventType.SIGNAL, Theme.LVB, Organisation.GEMEENTE_SOCIAAL, **claimed)
    assert copies["politie"].guidance is not None
    assert copies["politie"].guidance.startswith("lvb-signaal-politie@")
    assert all(copy.form["course_of_action"] != claimed["course_of_action"] for copy in copies.values())


@pytest.mark.parametrize("event_type", list(EventType))
def test_events_of_the_version_before_the_field_still_decode_with_none(event_type: EventType) -> None:
    history = released_versions()[event_type]
    assert "course_of_action" in {f["name"] for f in history[-1].schema["fields"]}
    before = history[-2]
    assert "course_of_action" not in {f["name"] for f in before.schema["fields"]}
    form = example_form(event_type, Theme.LVB)
    form.pop("course_of_action", None)
    body = io.BytesIO()  # written as a partner on the older version writes it (the codec's own JSON-form writer)
    fastavro.schemaless_writer(body, fastavro.parse_schema(json_schema(dict(before.schema))), form)
    back = Codec().decode_json(SINGLE_OBJECT_MAGIC + before.fingerprint + body.getvalue())
    assert back["id"] == form["id"]
    assert back["course_of_action"] is None
