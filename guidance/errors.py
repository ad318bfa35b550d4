"""Errors of the courses of action.

Messages name files and entries, never personal data (a course of action holds none).
"""

from __future__ import annotations

from schakel.errors import SchakelError
from schakel.strict_yaml import DataFileError

__all__ = ["GuidanceError", "GuidanceFileError"]


class GuidanceError(SchakelError):
    """Base class of the guidance package's errors."""


class GuidanceFileError(GuidanceError, DataFileError):
    """One or more course-of-action files do not load; ``problems`` holds one line per problem, each naming the
    file and (where there is one) the entry."""

    def headline(self) -> str:
        count = len(self.problems)
        return "course-of-action file does not load" if count == 1 else f"{count} problems in the guidance files"
