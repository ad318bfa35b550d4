"""Politie (police): registrations from the police's case system (BVH-like) over a signed HTTP webhook.

A ``registratie`` is a police registration about a person's behaviour; it becomes a ``Signal``. The police processes
under the Police Data Act (Wpg): ``gedragsomschrijving`` is criminal data, which the consent processor governs.
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
from schakel.connectors.partners._kinds import HttpPartnerConfig, http_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "PolitieConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.POLITIE,
    type_field="soort",
    reference_field="registratienummer",
    envelope={**DEFAULT_ENVELOPE, "mutatiedatum": "time"},
    types={
        "registratie": TypeMapping(
            EventType.SIGNAL,
            {
                "gedragsomschrijving": "observed_behaviour",
                "ideologie": "ideology",
                "lvb_indicatie": "lvb_indication",
                "rekeningnummer": "iban",
                "fraudevorm": "fraud_type",
                "urgentie": "urgency",
                "jeugdcontext": "youth_context",
                "toelichting": "description",
            },
            example={
                "thema": "geldezel",
                "gedragsomschrijving": "Stelt bankrekening beschikbaar aan derden tegen betaling.",
                "rekeningnummer": "NL91ABNA0417164300",
                "fraudevorm": "aankoopfraude",
                "urgentie": "hoog",
                "toelichting": "Melding wijkagent.",
            },
        ),
        "informatie": TypeMapping(
            EventType.INFORMATION_CONTRIBUTION,
            {"bijdrage": "contribution", "politiegegevens": "police_record"},
            example={
                "thema": "cter",
                "bijdrage": "Politie-informatie voor casusoverleg.",
                "politiegegevens": "Twee eerdere registraties openbare orde.",
            },
        ),
        "terugkoppeling": TypeMapping(
            EventType.FEEDBACK,
            {"actie": "action_id", "status": "status", "notitie": "note"},
            example={"actie": "A-1", "status": "gereed", "notitie": "Huisbezoek afgelegd."},
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


class PolitieConfig(HttpPartnerConfig):
    """Politie: webhook for registrations, POST for the copies the police may receive."""


CONNECTOR = http_connector(MAPPING, PolitieConfig, "Politie - registraties via HTTP webhook, levering via HTTP POST")
