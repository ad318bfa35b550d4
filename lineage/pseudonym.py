"""From a citizen's BSN to the subject pseudonym the lineage records carry.

A BSN is checked (nine digits, 11-test) and pseudonymised before any lookup, with the same keyed function the hub
uses (``schakel.consent.Pseudonymizer(key).subject(bsn)``, key = ``SCHAKEL_PSEUDONYM_KEY`` as UTF-8 bytes), so the
store is only ever asked about a pseudonym. Error messages never contain the BSN.
"""

from __future__ import annotations

import importlib

from schakel.lineage.record import LineageError
from schakel.settings import settings

__all__ = ["InvalidBsnError", "is_bsn", "subject_pseudonym"]


class InvalidBsnError(LineageError):
    """What was given as a BSN is not one (nine digits passing the 11-test)."""


def is_bsn(text: str) -> bool:
    """Nine digits passing the 11-test (elfproef): 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11, not 0."""
    if len(text) != 9 or not text.isascii() or not text.isdigit():
        return False
    digits = [int(c) for c in text]
    total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
    return total % 11 == 0 and total != 0


def subject_pseudonym(bsn: str, key: str | None = None) -> str:
    """The hub-wide pseudonym of the subject with this BSN (the key defaults to ``SCHAKEL_PSEUDONYM_KEY``)."""
    bsn = bsn.strip()
    if not is_bsn(bsn):
        raise InvalidBsnError("the given BSN is not valid (nine digits passing the 11-test)")
    secret = key if key is not None else settings().pseudonym_key.get_secret_value()
    consent = importlib.import_module("schakel.consent")
    pseudonymizer = getattr(consent, "Pseudonymizer", None)
    if pseudonymizer is None:
        raise LineageError("schakel.consent.Pseudonymizer is not available: cannot pseudonymise a BSN")
    return str(pseudonymizer(secret.encode()).subject(bsn))
