"""Errors of the courses of action.

Messages name files and entries, never personal data (a course of action holds none).
"""

from __future__ import annotations

from schakel.errors import SchakelError

__all__ = ["GuidanceError", "GuidanceFileError"]


class GuidanceError(SchakelError):
    """Base class of the guidance package's errors."""


class GuidanceFileError(GuidanceError):
    """One or more course-of-action files do not load; ``problems`` holds one line per problem, each naming the
    file and (where there is one) the entry."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        head = "course-of-action file does not load" if count == 1 else f"{count} problems in the guidance files"
        super().__init__(head + ":\n  " + "\n  ".join(self.problems))
