"""The course-of-action loader: the shipped drafts load, and every kind of mistake is named with file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from schakel.guidance import GuidanceFileError, ReviewStatus, load_courses

GOOD = """\
id: test-course
status: draft
title: "A course"
applies_to:
  recipient: politie
  events: [Signal]
  themes: [LVB]
  fields_present: [lvb_indication]
steps: ["one", "two"]
involve: [zvh]
source: "A public handbook"
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_courses_load_and_are_all_drafts_for_review() -> None:
    courses = load_courses()
    assert {course.recipient.value for course in courses} >= {"politie", "om", "gemeente-sociaal", "zvh"}
    assert all(course.status is ReviewStatus.DRAFT for course in courses)
    for course in courses:
        text = Path(course.source_file).read_text(encoding="utf-8")
        assert "CONCEPT" in text, f"{course.source_file} does not say it is a draft for review"


def test_a_good_course_loads_with_a_content_version(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    (course,) = load_courses(tmp_path)
    assert course.reference.startswith("test-course@")
    assert len(course.version) == 12
    _write(tmp_path, "a.yaml", "# a comment changes nothing\n" + GOOD)
    assert load_courses(tmp_path)[0].version == course.version
    _write(tmp_path, "a.yaml", GOOD.replace('"one"', '"one, changed"'))
    assert load_courses(tmp_path)[0].version != course.version


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("status: draft", "status: final"), "'status' must be one of"),
        (("recipient: politie", "recipient: interpol"), "unknown organisation 'interpol'"),
        (("events: [Signal]", "events: [Rumour]"), "unknown EventType 'Rumour'"),
        (("themes: [LVB]", "themes: [FOOTBALL]"), "unknown Theme 'FOOTBALL'"),
        (("[lvb_indication]", "[subject.bsn]"), "'subject.bsn' is not a payload field"),
        (("[lvb_indication]", "[diagnosis]"), "'diagnosis' is not a payload field"),
        (('steps: ["one", "two"]', "steps: []"), "'steps' must hold 1 to 12 steps"),
        (('steps: ["one", "two"]', 'steps: ["one", ""]'), "'steps[1]' must be a non-empty text"),
        (("involve: [zvh]", "involve: [zvh, zvh]"), "'involve': 'zvh' is listed twice"),
        (('source: "A public handbook"', "source: 3"), "'source' must be a non-empty text"),
        (("status: draft", "status: draft\nreviewer: x"), "unknown key 'reviewer'"),
        (("  themes: [LVB]", "  themes: [LVB]\n  urgency: high"), "applies_to: unknown key 'urgency'"),
    ],
)
def test_a_mistake_is_named_with_file_and_entry(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    path = _write(tmp_path, "a.yaml", GOOD.replace(*change))
    with pytest.raises(GuidanceFileError) as raised:
        load_courses(tmp_path)
    assert any(str(path) in line and "test-course" in line and problem in line for line in raised.value.problems), (
        raised.value.problems
    )


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD.replace("politie", "interpol").replace("[LVB]", "[FOOTBALL]"))
    with pytest.raises(GuidanceFileError) as raised:
        load_courses(tmp_path)
    assert len(raised.value.problems) == 2


def test_duplicate_keys_ids_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD + "status: reviewed\n")
    _write(tmp_path, "b.yaml", "id: [unclosed\n")
    with pytest.raises(GuidanceFileError) as raised:
        load_courses(tmp_path)
    text = "\n".join(raised.value.problems)
    assert "duplicate key 'status'" in text
    assert "b.yaml: not valid YAML" in text


def test_two_courses_for_exactly_the_same_copies_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD.replace("test-course", "other-course").replace("[LVB]", "[LVB, CTER]"))
    with pytest.raises(GuidanceFileError, match="applies to exactly the copies course 'test-course'"):
        load_courses(tmp_path)
    _write(tmp_path, "b.yaml", GOOD.replace("test-course", "other-course").replace("[lvb_indication]", "[]"))
    assert len(load_courses(tmp_path)) == 2


def test_the_same_id_in_two_files_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD.replace("[LVB]", "[CTER]"))
    with pytest.raises(GuidanceFileError, match="course id 'test-course' is also the id of"):
        load_courses(tmp_path)
