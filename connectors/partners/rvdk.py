"""Raad voor de Kinderbescherming (child protection): JSON files in a shared directory, and files back.

Youth data (``jeugdbeschermingsmaatregel``, ``jeugdcontext``) is labelled ``youth`` in the catalogue.
"""

from __future__ import annotations

from schakel.connectors.mapping import (
    DEFAULT_ENVELOPE,
    FEEDBACK_STATUS,
    PARTNER_REQUESTS,
    REQUEST_VALUES,
    URGENCY,
    RecordMapping,
    TypeMapping,
)
from schakel.connectors.partners._kinds import FileDropPartnerConfig, filedrop_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "RvdkConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.RVDK,
    type_field="soort",
    reference_field="raadsnummer",
    envelope={**DEFAULT_ENVELOPE, "datum_melding": "time"},
    types={
        "bijdrage": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {"jeugdbeschermingsmaatregel": "youth_protection_measure", "bijdrage": "contribution"},
            example={
                "thema": "lvb",
                "jeugdbeschermingsmaatregel": "Ondertoezichtstelling sinds 2025.",
                "bijdrage": "Gezinsvoogd betrokken.",
            },
        ),
        "zorgmelding": TypeMapping(
            EventType.SIGNAL,
            {
                "zorgen": "description",
                "jeugdcontext": "youth_context",
                "urgentie": "urgency",
                "lvb_indicatie": "lvb_indication",
            },
            example={
                "thema": "lvb",
                "zorgen": "Jongere wordt ingezet als drugskoerier.",
                "jeugdcontext": "Woont bij grootouders.",
                "urgentie": "acuut",
            },
        ),
        "terugkoppeling": TypeMapping(
            EventType.FEEDBACK,
            {"actie": "action_id", "status": "status", "notitie": "note"},
            example={"actie": "A-3", "status": "gepland"},
        ),
        **PARTNER_REQUESTS,
    },
    values={**REQUEST_VALUES, "urgentie": URGENCY, "status": FEEDBACK_STATUS},
)


class RvdkConfig(FileDropPartnerConfig):
    """RvdK: JSON files in ``inbound.directory``, one JSON file per copy in ``outbound.directory``."""


CONNECTOR = filedrop_connector(MAPPING, RvdkConfig, "Raad voor de Kinderbescherming - JSON via bestandsmap")
