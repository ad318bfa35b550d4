"""Gemeente, sociaal domein (municipality: care, youth, income): an outbox table in its social-domain case system.

Kept apart from the safety domain: its own connector, topics and covenant rules.
"""

from __future__ import annotations

from schakel.connectors.mapping import (
    CONSENT_CHANGE,
    PARTNER_REQUESTS,
    REQUEST_VALUES,
    URGENCY,
    RecordMapping,
    TypeMapping,
)
from schakel.connectors.partners._kinds import DatabasePartnerConfig, database_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "GemeenteSociaalConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.GEMEENTE_SOCIAAL,
    type_field="soort",
    reference_field="meldingnummer",
    types={
        "zorgsignaal": TypeMapping(
            EventType.SIGNAL,
            {
                "omschrijving": "description",
                "lvb_indicatie": "lvb_indication",
                "jeugdcontext": "youth_context",
                "urgentie": "urgency",
            },
            example={
                "thema": "lvb",
                "omschrijving": "Schulden opgebouwd via 'vrienden'.",
                "lvb_indicatie": "Indicatie LVB uit Wmo-onderzoek.",
                "urgentie": "hoog",
            },
        ),
        "toestemming": TypeMapping(
            EventType.CONSENT_CHANGE,
            {"wijziging": "change", "ontvangers": "grantees", "geldig_tot": "valid_until"},
            example={"thema": "lvb", "wijziging": "gegeven", "ontvangers": "zvh;ggz"},
        ),
        "bijdrage": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {"bijdrage": "contribution"},
            example={"thema": "lvb", "bijdrage": "Bewindvoering aangevraagd."},
        ),
        **PARTNER_REQUESTS,
    },
    values={"urgentie": URGENCY, "wijziging": CONSENT_CHANGE, **REQUEST_VALUES},
    lists=frozenset({"aan", "ontvangers"}),
)


class GemeenteSociaalConfig(DatabasePartnerConfig):
    """Gemeente (sociaal): its outbox table in, its inbox table out."""


CONNECTOR = database_connector(
    MAPPING, GemeenteSociaalConfig, "Gemeente sociaal domein - outbox-tabel, levering in inbox-tabel"
)
