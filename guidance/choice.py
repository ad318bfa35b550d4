"""Choosing the course of action for one egress copy: pure, and blind to everything the copy does not say.

How a course is chosen, in steps:

1. The input is the *projected* copy (the JSON form the recipient receives, withheld fields null) and its
   recipient. *Why:* a course must never reveal a withheld field; if its choice could depend on the original
   event, the mere reference on the copy would say something about a field the recipient may not see
   (a course "LVB indication" on a copy whose ``lvb_indication`` was withheld would disclose it).
2. A course applies when its recipient is the copy's, the copy's type and theme are among its events and themes,
   and every field in its ``fields_present`` has a value in the copy's payload.
3. Of the applicable courses the most specific wins: the most ``fields_present``. The loader refuses two courses
   that apply to exactly the same copies, so with equal counts the tie is between courses on different fields;
   it is broken by the course id, so that the choice is a function of the copy alone (same copy, same course).
4. No applicable course: no course. The copy travels without one - a course is help, not a condition of delivery.

The subject's identifiers, the times and the free texts play no part: a course is chosen on the situation, not on
the person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schakel.guidance.course import CourseOfAction
from schakel.schemas import Organisation

__all__ = ["Guidance", "copy_reference"]


def copy_reference(copy: Mapping[str, Any]) -> str | None:
    """The reference (``id@version``) of the course a delivered copy (its JSON form) carries in its envelope field
    ``course_of_action``, or None. What connectors and the console look up - never a course chosen again."""
    field = copy.get("course_of_action")
    if not isinstance(field, Mapping) or not field.get("reference") or not field.get("version"):
        return None
    return f"{field['reference']}@{field['version']}"


class Guidance:
    """A set of loaded courses, indexed for choosing, and looked up by reference."""

    def __init__(self, courses: Iterable[CourseOfAction]) -> None:
        self.courses = tuple(courses)
        self._by_reference = {course.reference: course for course in self.courses}
        self._by_recipient: dict[Organisation, list[CourseOfAction]] = {}
        for course in sorted(self.courses, key=lambda c: (-len(c.fields_present), c.id)):
            self._by_recipient.setdefault(course.recipient, []).append(course)

    def choose(self, recipient: Organisation | str, copy: Mapping[str, Any]) -> CourseOfAction | None:
        """The course of action for ``copy`` (the projected JSON form) delivered to ``recipient``, or None."""
        key = recipient if type(recipient) is Organisation else Organisation(recipient)  # the hub passes the member
        candidates = self._by_recipient.get(key, ())
        if not candidates:
            return None
        event_type, theme = copy.get("type"), copy.get("theme")
        payload = copy.get("payload") or {}
        for course in candidates:
            if (
                event_type in course.events
                and theme in course.themes
                and all(payload.get(name) is not None for name in course.fields_present)
            ):
                return course
        return None

    def find(self, reference: str | None) -> CourseOfAction | None:
        """The course a copy's reference (``id@version``) names, if this set holds exactly that version."""
        return self._by_reference.get(reference) if reference else None
