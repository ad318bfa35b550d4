"""The errors of :mod:`schakel.schemas`, all under :class:`SchemaError` and so under the root ``SchakelError``.

A message names the event (type, id) where it is known, the field (as a dotted path) and the rule it breaks - never
the value: a BSN, a name or a text about a person must not reach a log through an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schakel.errors import SchakelError

__all__ = [
    "CompatibilityError",
    "DecodeError",
    "EventInvalid",
    "RegistryError",
    "SchemaError",
    "UnknownSchema",
    "field_label",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


def field_label(key: object) -> str:
    """A key for an error message: shown when it looks like a field name, else withheld - a sender may put data
    where a field name belongs."""
    if isinstance(key, int):
        return str(key)
    return key if isinstance(key, str) and _IDENTIFIER.match(key) else "<field name withheld>"


class SchemaError(SchakelError):
    """Base class of the errors of the event catalogue and its codec."""

    def __init__(self, message: str, reasons: Iterable[str] = ()) -> None:
        self.reasons: tuple[str, ...] = tuple(reasons)
        super().__init__(message if not self.reasons else f"{message}: {'; '.join(self.reasons)}")


class EventInvalid(SchemaError):  # noqa: N818 - the name other packages code against
    """An event (JSON form, model input, or a record to encode) breaks the catalogue's rules.

    ``reasons`` holds one entry per problem, ``<field path>: <rule>``.
    """


class DecodeError(SchemaError):
    """Bytes could not be decoded into an event: not a known wire format, truncated, garbage, an unknown schema, or a
    record that breaks the event rules. Nothing partially decoded is ever returned."""


class UnknownSchema(DecodeError):  # noqa: N818 - the name other packages code against
    """The writer schema (fingerprint or registry id) is not known to this reader."""


class RegistryError(SchemaError):
    """The schema registry could not be reached or refused a request. ``status`` is the HTTP status when it
    answered (404: no such schema or subject), None when it could not be reached - worth a retry, not a dead letter."""

    def __init__(self, message: str, reasons: Iterable[str] = (), status: int | None = None) -> None:
        super().__init__(message, reasons)
        self.status = status


class CompatibilityError(SchemaError):
    """A schema change breaks backward or forward compatibility with its last released version."""
