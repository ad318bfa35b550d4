"""Loading course-of-action files: strict, so that a mistake stops the hub instead of sending a wrong course.

One YAML file per course (``guidance/courses/*.yaml`` ships the drafts). The format::

    id: lvb-signaal-politie                 # slug, unique in the directory
    status: draft                           # draft | reviewed: every shipped course is a draft for review
    title: "LVB-indicatie bij een politiesignaal"
    applies_to:
      recipient: politie                    # the organisation receiving the copy
      events: [Signal]                      # event types
      themes: [LVB]                         # the copy's theme
      fields_present: [lvb_indication]      # payload fields that must carry a value in the copy (may be empty)
    steps: ["...", "..."]                   # short steps, 1..12
    involve: [ggz, gemeente-sociaal]        # organisations to involve (may be empty)
    source: "title of the public guidance this course follows"

Every problem is reported (not only the first) with the file and the entry: unknown keys, organisations, event
types, themes and fields, an empty text, a step list that is empty or too long, duplicate keys or ids, and two
courses that would apply to exactly the same copies (same recipient, overlapping events and themes, the same
``fields_present``) - the chooser could not tell them apart. A course's version is the first 12 hex digits of the
SHA-256 of its content in canonical JSON, as for covenants: a change of meaning changes the version.

``fields_present`` names payload fields only, never ``subject.*``: a course is chosen on what a copy says about the
situation, not on who the person is.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from schakel.guidance.course import CourseOfAction, ReviewStatus
from schakel.guidance.errors import GuidanceFileError
from schakel.schemas import EventType, Organisation, Theme, field_sensitivities
from schakel.strict_yaml import load_folder

__all__ = ["course_version", "load_courses", "parse_course", "shipped_courses_dir"]

_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
_KEYS = frozenset({"id", "status", "title", "applies_to", "steps", "involve", "source"})
_APPLIES_KEYS = frozenset({"recipient", "events", "themes", "fields_present"})
_MAX_STEPS = 12
_MAX_TEXT = 600
_Member = TypeVar("_Member", EventType, Theme, Organisation)


def shipped_courses_dir() -> Path:
    """The directory of the courses of action that ship with schakel."""
    return Path(str(files("schakel.guidance.courses")))


def course_version(document: dict[str, Any]) -> str:
    """The version of a course: a hash of its content (canonical JSON), 12 hex digits."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def load_courses(directory: Path | None = None) -> tuple[CourseOfAction, ...]:
    """Load and check every ``*.yaml`` / ``*.yml`` course in ``directory`` (None: the shipped ones).

    Raises :class:`GuidanceFileError` listing every problem if any file does not load."""
    directory = shipped_courses_dir() if directory is None else Path(directory)
    if not directory.is_dir():
        raise GuidanceFileError([f"{directory}: not a directory of course-of-action files"])
    courses, problems = load_folder(directory, parse_course, "course")
    problems.extend(_ambiguities(courses))
    if problems:
        raise GuidanceFileError(problems)
    return tuple(courses)


def _ambiguities(courses: list[CourseOfAction]) -> list[str]:
    found: list[str] = []
    for index, first in enumerate(courses):
        for second in courses[index + 1 :]:
            if (
                first.recipient == second.recipient
                and first.events & second.events
                and first.themes & second.themes
                and first.fields_present == second.fields_present
            ):
                found.append(
                    f"{second.source_file}: course '{second.id}' applies to exactly the copies course "
                    f"'{first.id}' ({first.source_file}) applies to; make one of them more specific"
                )
    return found


def parse_course(document: object, source: str) -> CourseOfAction:
    """Check one course document (the parsed YAML) and build the :class:`CourseOfAction`; ``source`` names it in
    error messages. Raises :class:`GuidanceFileError` listing every problem."""
    if not isinstance(document, dict):
        raise GuidanceFileError([f"{source}: a course-of-action file must be a mapping (id, status, title, ...)"])
    problems: list[str] = []

    def add(what: str) -> None:
        problems.append(f"{source}: course '{course_id}': {what}")

    course_id = document.get("id")
    if not isinstance(course_id, str) or not _SLUG.match(course_id):
        problems.append(f"{source}: 'id' must be a slug like 'lvb-signaal-politie', not {course_id!r}")
        course_id = "?"
    for key in sorted(set(document) - _KEYS, key=str):
        add(f"unknown key '{key}' (allowed: {', '.join(sorted(_KEYS))})")
    status = document.get("status")
    if status not in {s.value for s in ReviewStatus}:
        add(f"'status' must be one of {', '.join(s.value for s in ReviewStatus)}, not {status!r}")
    title = _text(document.get("title"), "title", add)
    course_source = _text(document.get("source"), "source", add)

    applies = document.get("applies_to")
    recipient: Organisation | None = None
    events: frozenset[EventType] = frozenset()
    themes: frozenset[Theme] = frozenset()
    fields: frozenset[str] = frozenset()
    if not isinstance(applies, dict):
        add("'applies_to' must be a mapping (recipient, events, themes, fields_present)")
    else:
        for key in sorted(set(applies) - _APPLIES_KEYS, key=str):
            add(f"applies_to: unknown key '{key}' (allowed: {', '.join(sorted(_APPLIES_KEYS))})")
        recipient = _organisation(applies.get("recipient"), "applies_to.recipient", add)
        events = frozenset(_members(applies.get("events"), EventType, "applies_to.events", add, required=True))
        themes = frozenset(_members(applies.get("themes"), Theme, "applies_to.themes", add, required=True))
        fields = frozenset(_fields(applies.get("fields_present", []), events, add))

    steps = _texts(document.get("steps"), "steps", add)
    if steps is not None and not 1 <= len(steps) <= _MAX_STEPS:
        add(f"'steps' must hold 1 to {_MAX_STEPS} steps, not {len(steps)}")
    involve = _members(document.get("involve", []), Organisation, "involve", add, required=False)

    if problems or recipient is None or steps is None:
        raise GuidanceFileError(problems or [f"{source}: course '{course_id}': incomplete"])
    return CourseOfAction(
        id=course_id,
        version=course_version(document),
        status=ReviewStatus(str(status)),
        title=title,
        recipient=recipient,
        events=events,
        themes=themes,
        fields_present=fields,
        steps=tuple(steps),
        involve=tuple(involve),
        source=course_source,
        source_file=source,
    )


def _text(value: object, name: str, add: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        add(f"'{name}' must be a non-empty text")
        return ""
    if len(value) > _MAX_TEXT:
        add(f"'{name}' is longer than {_MAX_TEXT} characters")
    return value.strip()


def _texts(value: object, name: str, add: Any) -> list[str] | None:
    if not isinstance(value, list):
        add(f"'{name}' must be a list of texts")
        return None
    return [_text(item, f"{name}[{index}]", add) for index, item in enumerate(value)]


def _organisation(value: object, name: str, add: Any) -> Organisation | None:
    try:
        return Organisation(str(value))
    except ValueError:
        add(f"'{name}': unknown organisation {value!r}")
        return None


def _members(value: object, kind: type[_Member], name: str, add: Any, *, required: bool) -> list[_Member]:
    if not isinstance(value, list) or (required and not value):
        add(f"'{name}' must be a {'non-empty ' if required else ''}list")
        return []
    found: list[_Member] = []
    for item in value:
        try:
            member = kind(str(item))
        except ValueError:
            add(f"'{name}': unknown {kind.__name__} {item!r}")
            continue
        if member in found:
            add(f"'{name}': {item!r} is listed twice")
            continue
        found.append(member)
    return found


def _fields(value: object, events: frozenset[EventType], add: Any) -> list[str]:
    if not isinstance(value, list):
        add("'applies_to.fields_present' must be a list of payload field names")
        return []
    found: list[str] = []
    for item in value:
        name = str(item)
        if name.startswith("subject.") or any(name not in field_sensitivities(event) for event in events):
            add(f"'applies_to.fields_present': {item!r} is not a payload field of every listed event type")
            continue
        found.append(name)
    return found
