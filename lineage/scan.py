"""A scan of everything the lineage store holds for what must never be there: personal data.

Lineage names fields and carries pseudonyms; it never holds a BSN, a name or free text about a person. The lead runs
:func:`scan_for_personal_data` over the store after a demo to prove it. It looks at every text column of every stored
row, exactly as stored (not through the record model, which would refuse some of it), for:

- ``bsn``: a run of nine digits, not part of a longer token, that passes the 11-test;
- ``name``: a name from the given list, as whole words, case-insensitively, its words separated by anything that
  separates words in a code too (spaces, ``-``, ``_``, ``.``): ``jan-jansen`` in a purpose slug is the name
  ``Jan Jansen``;
- ``free-text``: a value that reads like prose - at least ``free_text_min_length`` characters and at least
  ``free_text_min_words`` space-separated words of letters. Identifiers, codes, hashes and the compact JSON lists of
  field names have no spaces and never match; a reason code like ``consent-missing`` does not either.

A finding names the record, the column and the kind - never the value found, so the report itself is safe to share.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schakel.lineage.pseudonym import is_bsn
from schakel.lineage.store import LineageStore

__all__ = ["Finding", "scan_for_personal_data", "scan_rows"]

_NINE_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])")
_WORD = re.compile(r"[(\"']?[^\W\d_]+(?:['-][^\W\d_]+)*[.,;:!?)\"']*")


@dataclass(frozen=True)
class Finding:
    """Something in the store that looks like personal data (the value itself is deliberately not kept)."""

    record_id: str
    column: str
    kind: str
    """``bsn``, ``name`` or ``free-text``."""


def _texts(value: Any) -> Iterable[str]:
    """The texts in a column: the value itself, and each string of a JSON array column (so prose inside
    ``reasons`` is judged on its own, and a compact list of field names is not mistaken for prose)."""
    if not isinstance(value, str):
        return
    yield value
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            return
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, str))


def _name_pattern(name: str) -> re.Pattern[str]:
    """A listed name as whole words (not next to a letter or digit), any word separator between its words."""
    words = r"[\s._-]+".join(re.escape(word) for word in name.split())
    return re.compile(rf"(?<![^\W_]){words}(?![^\W_])", re.IGNORECASE)


def _is_prose(text: str, min_words: int, min_length: int) -> bool:
    if len(text) < min_length:
        return False
    return sum(1 for token in text.split() if _WORD.fullmatch(token)) >= min_words


def scan_rows(
    rows: Iterable[dict[str, Any]],
    names: Iterable[str] = (),
    *,
    free_text_min_words: int = 6,
    free_text_min_length: int = 40,
) -> list[Finding]:
    """Scan rows (column -> value) for personal data; see the module docstring for what counts."""
    name_patterns = [_name_pattern(n) for n in names if n.split()]
    findings: list[Finding] = []
    for row in rows:
        record_id = str(row.get("record_id", "?"))
        for column, value in row.items():
            for text in _texts(value):
                if any(is_bsn(match) for match in _NINE_DIGITS.findall(text)):
                    findings.append(Finding(record_id, column, "bsn"))
                if any(pattern.search(text) for pattern in name_patterns):
                    findings.append(Finding(record_id, column, "name"))
                if _is_prose(text, free_text_min_words, free_text_min_length):
                    findings.append(Finding(record_id, column, "free-text"))
    return findings


def scan_for_personal_data(
    store: LineageStore,
    names: Iterable[str] = (),
    *,
    free_text_min_words: int = 6,
    free_text_min_length: int = 40,
) -> list[Finding]:
    """Scan every row of the lineage store - kept records and the skeletons of pruned ones (named by their
    ``record_ref``) - ; an empty list means nothing personal was found."""
    return scan_rows(
        itertools.chain(store.raw_rows(), store.pruned_rows()),
        list(names),
        free_text_min_words=free_text_min_words,
        free_text_min_length=free_text_min_length,
    )
