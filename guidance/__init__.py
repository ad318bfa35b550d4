"""Courses of action (handelingskaders) as versioned data, and the pure choice of one for an egress copy.

Pure like :mod:`schakel.consent`: no Kafka, no I/O beyond reading the course files at start-up.
"""

from pathlib import Path

from schakel.guidance.choice import Guidance, copy_reference
from schakel.guidance.course import CourseOfAction, ReviewStatus
from schakel.guidance.errors import GuidanceError, GuidanceFileError
from schakel.guidance.loading import course_version, load_courses, parse_course, shipped_courses_dir

__all__ = [
    "CourseOfAction",
    "Guidance",
    "GuidanceError",
    "GuidanceFileError",
    "ReviewStatus",
    "copy_reference",
    "course_version",
    "load_courses",
    "load_guidance",
    "parse_course",
    "shipped_courses_dir",
]


def load_guidance(directory: str | Path | None = None) -> Guidance:
    """Load the courses in ``directory`` (None: the shipped ones) into a :class:`Guidance`."""
    return Guidance(load_courses(Path(directory) if directory else None))
