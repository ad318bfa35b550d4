"""Reclassering (probation): an outbox table in the probation service's case database.

Supervision details (``toezicht``) are criminal data.
"""

from __future__ import annotations

from schakel.connectors.mapping import (
    FEEDBACK_STATUS,
    PARTNER_REQUESTS,
    REQUEST_VALUES,
    URGENCY,
    RecordMapping,
    TypeMapping,
)
from schakel.connectors.partners._kinds import DatabasePartnerConfig, database_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "ReclasseringConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.RECLASSERING,
    type_field="soort",
    reference_field="meldingnummer",
    types={
        "toezichtinformatie": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {"toezicht": "probation_supervision", "bijdrage": "contribution"},
            example={
                "thema": "cter",
                "toezicht": "Meldplicht wekelijks, contactverbod.",
                "bijdrage": "Houdt zich aan afspraken.",
            },
        ),
        "terugkoppeling": TypeMapping(
            EventType.FEEDBACK,
            {"actie": "action_id", "status": "status", "notitie": "note"},
            example={"actie": "A-4", "status": "gereed", "notitie": "Gesprek gevoerd."},
        ),
        "signaal": TypeMapping(
            EventType.SIGNAL,
            {"waarneming": "observed_behaviour", "urgentie": "urgency"},
            example={"thema": "overig", "waarneming": "Schendt meldplicht.", "urgentie": "normaal"},
        ),
        **PARTNER_REQUESTS,
    },
    values={**REQUEST_VALUES, "urgentie": URGENCY, "status": FEEDBACK_STATUS},
)


class ReclasseringConfig(DatabasePartnerConfig):
    """Reclassering: its outbox table in, its inbox table out."""


CONNECTOR = database_connector(MAPPING, ReclasseringConfig, "Reclassering - outbox-tabel, levering in inbox-tabel")
