"""GGZ (mental health care): contributions and consent changes from the care provider's EPD over a signed webhook.

Professional secrecy: identifiable GGZ data crosses only with a recorded ground (``grondslag_doorbreking``:
consent, legal duty, conflict of duties) and the reference of the documented deliberation (``afweging_kenmerk``).
"""

from __future__ import annotations

from schakel.connectors.mapping import (
    CONSENT_CHANGE,
    PARTNER_REQUESTS,
    REQUEST_VALUES,
    URGENCY,
    YES_NO,
    RecordMapping,
    TypeMapping,
)
from schakel.connectors.partners._kinds import HttpPartnerConfig, http_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "GgzConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.GGZ,
    type_field="berichttype",
    reference_field="berichtnummer",
    types={
        "bijdrage": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {
                "bijdrage": "contribution",
                "diagnose": "diagnosis",
                "in_zorg": "in_care",
                "grondslag_doorbreking": "secrecy_ground",
                "afweging_kenmerk": "deliberation_ref",
            },
            example={
                "thema": "cter",
                "bijdrage": "Client is bekend en in behandeling.",
                "diagnose": "Psychotische stoornis.",
                "in_zorg": "ja",
                "grondslag_doorbreking": "toestemming",
                "afweging_kenmerk": "AFW-2026-014",
            },
        ),
        "toestemming": TypeMapping(
            EventType.CONSENT_CHANGE,
            {"wijziging": "change", "ontvangers": "grantees", "geldig_tot": "valid_until"},
            example={"thema": "cter", "wijziging": "gegeven", "ontvangers": "zvh;politie"},
        ),
        "signaal": TypeMapping(
            EventType.SIGNAL,
            {"waarneming": "observed_behaviour", "lvb_indicatie": "lvb_indication", "urgentie": "urgency"},
            example={"thema": "lvb", "lvb_indicatie": "Vermoeden licht verstandelijke beperking.", "urgentie": "hoog"},
        ),
        **PARTNER_REQUESTS,
    },
    values={
        **REQUEST_VALUES,
        "in_zorg": YES_NO,
        "urgentie": URGENCY,
        "wijziging": CONSENT_CHANGE,
        "grondslag_doorbreking": {
            "toestemming": "consent",
            "wettelijke_plicht": "legal_duty",
            "conflict_van_plichten": "conflict_of_duties",
        },
    },
    lists=frozenset({"aan", "ontvangers"}),
)


class GgzConfig(HttpPartnerConfig):
    """GGZ: webhook for contributions and consent changes, POST for the copies it may receive."""


CONNECTOR = http_connector(MAPPING, GgzConfig, "GGZ - bijdragen en toestemmingen via HTTP webhook, levering via HTTP")
