"""The legal bases a covenant may cite, and which kind of data each can justify.

A covenant rule cites its bases per category of data (``general`` for the sharing as such, then ``bsn``,
``health``, ``belief``, ``criminal``, ``youth`` for the sensitive categories the catalogue labels). The loader
checks every citation against this vocabulary, so a rule that lets belief data pass on "AVG 6(1)(e)" alone, or a
police rule that cites the AVG where the police processes under the Police Data Act, does not load.

Judgement calls, written down:

- **Regimes.** The police (``politie``) processes under the Wpg and the public prosecutor (``om``) under the Wjsg,
  not the AVG; every other partner under the AVG/UAVG. A basis belongs to one regime, or to all (the WGS, which
  governs the partnership itself, and the Wabb, which governs BSN use by everyone). A rule with several senders must
  cite, for every category it lets pass, a basis in each sender's regime - for the sharing as such one of the
  sender's own regime, which the WGS supplements but does not replace; a decision lists only the bases of the actual
  sender's regime.
- **Youth data** is not a special category in the AVG, but the catalogue labels it and children's data deserve the
  same care, so a rule that lets youth data pass must cite a youth basis too (fail-closed).
- **The BSN** may be used only where a law provides for it (UAVG 46, Wabb 10), so a rule that lets ``subject.bsn``
  pass must cite such a basis; otherwise the recipient gets its own pseudonym.
- The article numbers are those the network's covenants cite; the partnership's data protection officer (FG) owns
  them. Adding a basis is a change to this module and a review, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schakel.schemas import Organisation, Sensitivity

__all__ = ["GENERAL", "LEGAL_BASES", "LegalBasis", "Regime", "regime_of"]

GENERAL = "general"
"""The category key under which a rule cites the basis of the sharing as such (plain data)."""


class Regime(StrEnum):
    """The data protection law a sender processes under."""

    AVG = "AVG"
    WPG = "Wpg"
    WJSG = "Wjsg"


def regime_of(organisation: Organisation) -> Regime:
    """The regime the organisation processes its own data under."""
    if organisation == Organisation.POLITIE:
        return Regime.WPG
    if organisation == Organisation.OM:
        return Regime.WJSG
    return Regime.AVG


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """One citable basis: which categories of data it can justify, under which regimes, and what it says."""

    citation: str
    categories: frozenset[str]
    regimes: frozenset[Regime]
    nl: str
    en: str


_ALL = frozenset(Regime)
_AVG = frozenset({Regime.AVG})
_WPG = frozenset({Regime.WPG})
_WJSG = frozenset({Regime.WJSG})
_H, _B, _C, _Y, _N = (
    Sensitivity.HEALTH.value,
    Sensitivity.BELIEF.value,
    Sensitivity.CRIMINAL.value,
    Sensitivity.YOUTH.value,
    Sensitivity.BSN.value,
)


def _basis(citation: str, categories: set[str], regimes: frozenset[Regime], nl: str, en: str) -> LegalBasis:
    return LegalBasis(citation, frozenset(categories), regimes, nl, en)


LEGAL_BASES: dict[str, LegalBasis] = {
    b.citation: b
    for b in (
        _basis("AVG 6(1)(a)", {GENERAL}, _AVG, "toestemming van de betrokkene", "consent of the data subject"),
        _basis("AVG 6(1)(c)", {GENERAL}, _AVG, "wettelijke verplichting", "legal obligation"),
        _basis("AVG 6(1)(e)", {GENERAL}, _AVG, "taak van algemeen belang", "task in the public interest"),
        _basis("AVG 9(2)(a)", {_H, _B}, _AVG, "uitdrukkelijke toestemming", "explicit consent"),
        _basis("AVG 9(2)(g)", {_H, _B}, _AVG, "zwaarwegend algemeen belang", "substantial public interest"),
        _basis("AVG 9(2)(h)", {_H}, _AVG, "zorgverlening", "provision of health care"),
        _basis(
            "UAVG 23", {_H, _B}, _AVG, "algemene uitzondering bijzondere gegevens", "general exception, special data"
        ),
        _basis("UAVG 27", {_B}, _AVG, "uitzondering levensbeschouwing", "exception for beliefs"),
        _basis("UAVG 30", {_H}, _AVG, "uitzondering gezondheidsgegevens", "exception for health data"),
        _basis("AVG 10", {_C}, _AVG, "strafrechtelijke gegevens onder overheidstoezicht", "criminal data, official"),
        _basis("UAVG 33", {_C}, _AVG, "uitzondering strafrechtelijke gegevens", "exception for criminal data"),
        _basis("UAVG 46", {_N}, _AVG, "BSN alleen bij wet", "national number only where a law provides"),
        _basis("Wabb 10", {_N}, _ALL, "gebruik van het BSN bij de taak", "use of the BSN for the task"),
        _basis("Jeugdwet 7.4.0", {_Y}, _AVG, "gegevens over jeugdigen", "data on minors"),
        _basis("Wpg 5", {_H, _B}, _WPG, "bijzondere politiegegevens, onvermijdelijk", "special police data"),
        _basis(
            "Wpg 16", {GENERAL, _C, _Y}, _WPG, "verstrekking voor de strafrechtketen", "supply to the justice chain"
        ),
        _basis("Wpg 19", {GENERAL, _C, _Y}, _WPG, "zwaarwegend algemeen belang", "substantial public interest"),
        _basis("Wpg 20", {GENERAL, _C, _Y}, _WPG, "samenwerkingsverband", "partnership (samenwerkingsverband)"),
        _basis("Wjsg 8a", {GENERAL, _C, _Y}, _WJSG, "justitiële gegevens aan derden", "judicial data to third parties"),
        _basis(
            "Wjsg 39f", {GENERAL, _C, _Y}, _WJSG, "strafvorderlijke gegevens aan derden", "prosecution data to others"
        ),
        _basis(
            "WGS 2.1", {GENERAL}, _ALL, "gegevensverwerking door het samenwerkingsverband", "partnership processing"
        ),
    )
}
"""Every citation a covenant may use, keyed by its exact spelling."""
