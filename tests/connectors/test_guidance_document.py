"""A partner's document carries the course of action the hub attached to the copy, by its exact version."""

from __future__ import annotations

from schakel.connectors.contract import Delivery
from schakel.connectors.partners import politie
from schakel.guidance import load_guidance
from schakel.schemas import EventType, parse_event
from schakel.schemas.examples import example_form


def _delivery(guidance: str | None) -> Delivery:
    form = parse_event(example_form(EventType.SIGNAL, "LVB", source="gemeente-sociaal")).to_json()
    return Delivery(form["id"], "politie", "Signal", form, "hub-subject-1", None, guidance=guidance)


def test_the_police_document_carries_the_course_text() -> None:
    course = next(c for c in load_guidance().courses if c.id == "lvb-signaal-politie")
    document, fields = politie.MAPPING.render(_delivery(course.reference))
    block = document["handelingskader"]
    assert block["referentie"] == course.reference
    assert block["titel"] == course.title
    assert block["stappen"] == list(course.steps)
    assert block["betrekken"] == [str(org) for org in course.involve]
    assert block["bron"] == course.source
    assert block["status"].startswith("concept")
    assert "handelingskader" not in fields  # not a governed field of the event: the receipt names what was shared


def test_another_version_travels_as_a_reference_without_a_text() -> None:
    document, _ = politie.MAPPING.render(_delivery("lvb-signaal-politie@000000000000"))
    assert document["handelingskader"]["referentie"] == "lvb-signaal-politie@000000000000"
    assert "stappen" not in document["handelingskader"]


def test_a_copy_without_a_course_has_no_course_block() -> None:
    document, _ = politie.MAPPING.render(_delivery(None))
    assert "handelingskader" not in document
