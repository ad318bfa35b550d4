"""Errors of the consent processor.

A denial is not an error: it is a :class:`~schakel.consent.Decision` with outcome ``deny``. Errors are for what
cannot be decided at all: a covenant file that does not load, or a caller that asks for something impossible
(projecting an event for a denied recipient). Messages name files, rules and organisations, never personal data.
"""

from __future__ import annotations

from schakel.errors import SchakelError
from schakel.strict_yaml import DataFileError

__all__ = ["ConsentError", "CovenantError"]


class ConsentError(SchakelError):
    """Base class of the consent processor's errors."""


class CovenantError(ConsentError, DataFileError):
    """One or more covenant files do not load; ``problems`` holds one line per problem, each naming the file and
    (where there is one) the rule."""

    def headline(self) -> str:
        count = len(self.problems)
        return "covenant file does not load" if count == 1 else f"{count} problems in the covenant files"
