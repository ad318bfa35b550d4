"""From a citizen's BSN to the subject pseudonym the lineage records carry.

A BSN is checked (nine digits, 11-test) and pseudonymised before any lookup, with the same keyed function the hub
uses (``schakel.consent.Pseudonymizer(key).subject("bsn:" + bsn)``, key = ``SCHAKEL_PSEUDONYM_KEY`` as UTF-8
bytes), so the store is only ever asked about a pseudonym. Error messages never contain the BSN.
"""

from __future__ import annotations

from schakel.consent import Pseudonymizer
from schakel.lineage.record import LineageError
from schakel.settings import settings

__all__ = ["InvalidBsnError", "is_bsn", "subject_pseudonym", "subject_pseudonyms"]


class InvalidBsnError(LineageError):
    """What was given as a BSN is not one (nine digits passing the 11-test)."""


def is_bsn(text: str) -> bool:
    """Nine digits passing the 11-test (elfproef): 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11, not 0."""
    if len(text) != 9 or not text.isascii() or not text.isdigit():
        return False
    digits = [int(c) for c in text]
    total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
    return total % 11 == 0 and total != 0


def _pseudonymizer(key: str | None) -> Pseudonymizer:
    secret = key if key is not None else settings().pseudonym_key.get_secret_value()
    return Pseudonymizer(secret.encode())


def _checked(bsn: str) -> str:
    bsn = bsn.strip()
    if not is_bsn(bsn):
        raise InvalidBsnError("the given BSN is not valid (nine digits passing the 11-test)")
    return bsn


def subject_pseudonym(bsn: str, key: str | None = None) -> str:
    """The hub-wide pseudonym of the subject with this BSN (the key defaults to ``SCHAKEL_PSEUDONYM_KEY``).

    The hub keys a person by ``schakel.consent.subject_key``: ``bsn:<BSN>``; this derives the same pseudonym.
    """
    return _pseudonymizer(key).subject(f"bsn:{_checked(bsn)}")


def subject_pseudonyms(bsn: str, key: str | None = None) -> tuple[str, ...]:
    """The pseudonyms to start a lookup of this person from: the BSN's. The store follows the hub's ``link`` records
    from it to the person's case-keyed pseudonyms (:meth:`schakel.lineage.LineageStore.person`)."""
    return (subject_pseudonym(bsn, key),)
