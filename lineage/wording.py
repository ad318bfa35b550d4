"""The translation table of the art. 15 report: plain Dutch (with English) for every code lineage carries.

The table is data (``wording.yaml`` beside this module), loaded strictly: safe YAML without duplicate keys
(:mod:`schakel.strict_yaml`), every section present, every entry a Dutch and an English text, nothing else - a slip
fails the load with the section and key named (:class:`WordingError`), never a half-read table. Whether the table
covers the catalogue, the covenants, the reason codes and the legal bases is a test
(``tests/lineage/test_wording.py``), so that adding a field, a purpose or a basis without words for it fails.

Field labels are keyed ``Type.field``: a field is worded for the one type it belongs to, so a type that gains a field
- even one whose name another type already has (``reason`` of a referral, of a signal bundle) - fails the coverage
test until it has its own words. Only the envelope's ``subject.*`` fields, the same in every type, have one label.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from schakel.lineage.record import LineageError
from schakel.strict_yaml import load_strict

__all__ = ["ENVELOPE_PREFIX", "Basis", "Purpose", "Text", "Wording", "WordingError", "load_wording", "wording"]

ENVELOPE_PREFIX = "subject."
"""The governed envelope fields (``subject.bsn``, ...): one label for every event type."""

_Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class WordingError(LineageError):
    """The translation table does not load (names the section and key, or the YAML error's position)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Strict):
    """One text in Dutch and English."""

    nl: _Words
    en: _Words


class Purpose(_Strict):
    """A purpose: a few words for lists, and one sentence that says what it is for."""

    label: Text
    description: Text


class Basis(_Strict):
    """A legal basis: its name (with the article), and one sentence that explains what it allows."""

    name: Text
    explanation: Text


class Wording(_Strict):
    """The whole table (see ``wording.yaml`` for what each section holds)."""

    organisations: dict[str, Text]
    event_types: dict[str, Text]
    fields: dict[str, Text]
    purposes: dict[str, Purpose]
    covenants: dict[str, Text]
    legal_bases: dict[str, Basis]
    reasons: dict[str, Text]
    delivery: dict[str, Text]
    consent_steps: dict[str, Text]
    requests: dict[str, Text]
    request_steps: dict[str, Text]

    def field(self, event_type: str, name: str) -> Text | None:
        """The label of a field of an event type: ``Type.field``, or for the envelope's ``subject.*`` the one label
        every type shares; None without one."""
        if name.startswith(ENVELOPE_PREFIX):
            return self.fields.get(name)
        return self.fields.get(f"{event_type}.{name}")


def load_wording(text: str, source: str = "wording.yaml") -> Wording:
    """The table from its YAML text; :class:`WordingError` when it is not exactly the expected shape."""
    try:
        document = load_strict(text)
    except yaml.YAMLError as error:
        raise WordingError(f"{source}: not valid strict YAML: {error}") from None
    try:
        return Wording.model_validate(document, strict=True)
    except ValidationError as error:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise WordingError(f"{source}: {where}") from None


@cache
def wording() -> Wording:
    """The shipped table (read once)."""
    return load_wording(files("schakel.lineage").joinpath("wording.yaml").read_text(encoding="utf-8"))
