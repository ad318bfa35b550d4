"""A course of action (handelingskader): what a professional who receives a copy can do next.

A course is data, loaded from ``guidance/courses/*.yaml`` by :mod:`schakel.guidance.loading` and chosen for a copy
by :mod:`schakel.guidance.choice`. Its reference - id and version, the envelope field ``course_of_action`` of the
copy - travels with the copy; the text stays here, so the copy grows by a few bytes and a connector or the console
looks the text up by reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schakel.schemas import EventType, Organisation, Theme

__all__ = ["CourseOfAction", "ReviewStatus"]


class ReviewStatus(StrEnum):
    """Whether the partnership's professionals have reviewed a course (every shipped course is a draft)."""

    DRAFT = "draft"
    REVIEWED = "reviewed"


@dataclass(frozen=True)
class CourseOfAction:
    """One course of action: for whom (recipient), on what (event types, themes, fields present), and what to do."""

    id: str
    version: str
    status: ReviewStatus
    title: str
    recipient: Organisation
    events: frozenset[EventType]
    themes: frozenset[Theme]
    fields_present: frozenset[str]
    steps: tuple[str, ...]
    involve: tuple[Organisation, ...]
    source: str
    source_file: str

    @property
    def reference(self) -> str:
        """``id@version``: how the console, the connectors and lineage name the course an egress copy carries."""
        return f"{self.id}@{self.version}"
