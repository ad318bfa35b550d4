"""OM (public prosecutor): a legacy export of CSV files (``;``-separated) into a shared directory, and files back.

The OM processes under the Judicial Data Act (Wjsg): the state of prosecution (``stand_van_zaken``) is criminal data.
The OM's own case number (``parketnummer``) is the case id.
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

__all__ = ["CONNECTOR", "MAPPING", "OmConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.OM,
    type_field="soort",
    reference_field="berichtnummer",
    envelope={**{k: v for k, v in DEFAULT_ENVELOPE.items() if k != "zaaknummer"}, "parketnummer": "case_id"},
    types={
        "vervolgingsinformatie": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {"stand_van_zaken": "prosecution_status", "bijdrage": "contribution"},
            example={
                "thema": "cter",
                "parketnummer": "15-123456-26",
                "stand_van_zaken": "Dagvaarding uitgebracht.",
                "bijdrage": "Zitting gepland.",
            },
        ),
        "signaal": TypeMapping(
            EventType.SIGNAL,
            {
                "feiten": "observed_behaviour",
                "urgentie": "urgency",
                "rekeningnummer": "iban",
                "fraudevorm": "fraud_type",
            },
            example={
                "thema": "geldezel",
                "feiten": "Verdacht van witwassen via eigen rekening.",
                "rekeningnummer": "NL91ABNA0417164300",
                "fraudevorm": "phishing",
                "urgentie": "normaal",
            },
        ),
        "terugkoppeling": TypeMapping(
            EventType.FEEDBACK,
            {"actie": "action_id", "status": "status", "notitie": "note"},
            example={"actie": "A-2", "status": "bezig"},
        ),
        **PARTNER_REQUESTS,
    },
    values={
        **REQUEST_VALUES,
        "urgentie": URGENCY,
        "status": FEEDBACK_STATUS,
        "fraudevorm": {
            "aankoopfraude": "purchase_fraud",
            "phishing": "phishing",
            "ransomware": "ransomware",
            "vriend_in_nood": "friend_in_need",
            "overig": "other",
        },
    },
)


class OmConfig(FileDropPartnerConfig):
    """OM: CSV/JSON files in ``inbound.directory``, one JSON file per copy in ``outbound.directory``."""


CONNECTOR = filedrop_connector(MAPPING, OmConfig, "OM - CSV-export via bestandsmap, levering als bestanden")
