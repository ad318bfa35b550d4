"""The hub attaches the course of action to each copy it applies to - chosen on the copy, never on the event."""

from __future__ import annotations

from pathlib import Path

import pytest

from schakel.consent import SubjectState, load_policy
from schakel.guidance import load_guidance
from schakel.schemas import Codec, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import GUIDANCE_HEADER, RECIPIENT_HEADER, EgressCopy, header, ingress_message


@pytest.fixture
def processor(tmp_path: Path) -> Processor:
    return Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())


def _copies(processor: Processor, event_type: EventType, theme: Theme, source: Organisation) -> dict[str, EgressCopy]:
    event = example_event(event_type, theme, source=source.value, payload={"lvb_indication": "Moeite met lezen."})
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


def test_a_copy_without_an_applicable_course_has_no_guidance_header(processor: Processor) -> None:
    copies = _copies(processor, EventType.SIGNAL, Theme.OTHER, Organisation.POLITIE)
    assert copies
    assert all(copy.guidance is None for copy in copies.values())
    assert all(GUIDANCE_HEADER not in dict(copy.headers) for copy in copies.values())
