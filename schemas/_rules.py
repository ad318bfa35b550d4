"""Checks of identifiers that have a checksum: the BSN (11-test) and the IBAN (ISO 13616, mod 97)."""

from __future__ import annotations

import re
import string
from operator import mul

__all__ = ["is_valid_bsn", "is_valid_iban", "normalise_iban"]

_BSN = re.compile(r"^[0-9]{9}$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
_LETTERS_AS_NUMBERS = str.maketrans({letter: str(10 + i) for i, letter in enumerate(string.ascii_uppercase)})


def is_valid_bsn(value: str) -> bool:
    """True for nine digits that pass the 11-test (weights 9..2 and -1) and are not all zeros."""
    if not _BSN.match(value) or value == "000000000":
        return False
    total: int = sum(map(mul, map(int, value[:8]), _WEIGHTS))
    return (total - int(value[8])) % 11 == 0


def normalise_iban(value: str) -> str:
    """The IBAN in its electronic form: no spaces, upper case."""
    return value.replace(" ", "").upper()


def is_valid_iban(value: str) -> bool:
    """True for an IBAN in electronic form whose check digits are right (mod 97 == 1)."""
    if not _IBAN.match(value):
        return False
    return int((value[4:] + value[:4]).translate(_LETTERS_AS_NUMBERS)) % 97 == 1
