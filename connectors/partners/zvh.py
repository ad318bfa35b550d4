"""Zorg- en Veiligheidshuis: triage decisions and case-consultation outcomes from its case system (GCOS-like),
through an outbox table. The ZVH is the contact point: it files the data subject's requests (``verzoek``: a
``soort_verzoek``, or a ``beperking`` - ``beperken`` / ``opheffen`` - for a restriction), which the hub forwards to
the partners; it never confirms one (it acts on a request where it was made).
"""

from __future__ import annotations

from schakel.connectors.mapping import REQUEST_VALUES, RecordMapping, TypeMapping
from schakel.connectors.partners._kinds import DatabasePartnerConfig, database_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "ZvhConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.ZVH,
    type_field="soort",
    reference_field="gcos_id",
    types={
        "triage": TypeMapping(
            EventType.TRIAGE_DECISION,
            {
                "uitkomst": "outcome",
                "procesregisseur": "process_director",
                "terugkoppeling": "feedback",
                "doorverwezen_naar": "redirected_to",
            },
            example={
                "thema": "cter",
                "uitkomst": "geaccepteerd",
                "procesregisseur": "Procesregisseur Noord",
                "terugkoppeling": "Geagendeerd voor casusoverleg.",
            },
        ),
        "casusafspraken": TypeMapping(
            EventType.CONSULTATION_OUTCOME,
            {"plan": "plan", "acties": "actions", "regie": "lead_partner", "evaluatiedatum": "review_date"},
            example={
                "thema": "cter",
                "plan": "Persoonsgerichte aanpak met GGZ-behandeling.",
                "regie": "gemeente-veiligheid",
            },
        ),
        "afsluiting": TypeMapping(
            EventType.CASE_CLOSED, {"reden": "closed_reason"}, example={"reden": "Doelen bereikt."}
        ),
        "verzoek": TypeMapping(
            EventType.SUBJECT_REQUEST,
            {"soort_verzoek": "kind", "beperking": "restriction"},
            example={"soort_verzoek": "inzage"},
        ),
    },
    values={
        "uitkomst": {"geaccepteerd": "accepted", "doorverwezen": "redirected", "afgewezen": "rejected"},
        **REQUEST_VALUES,
    },
)


class ZvhConfig(DatabasePartnerConfig):
    """ZVH: its outbox table in, its inbox table out."""


CONNECTOR = database_connector(MAPPING, ZvhConfig, "Zorg- en Veiligheidshuis - outbox-tabel, levering in inbox-tabel")
