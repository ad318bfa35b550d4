"""Gemeente, veiligheidsdomein (municipality, public order): referrals and signals over a signed HTTP webhook.

The safety domain is the CTER case owner with police and OM; it refers (``aanmelding``) cases to the ZVH.
"""

from __future__ import annotations

from schakel.connectors.mapping import PARTNER_REQUESTS, REQUEST_VALUES, URGENCY, YES_NO, RecordMapping, TypeMapping
from schakel.connectors.partners._kinds import HttpPartnerConfig, http_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "GemeenteVeiligheidConfig"]

MAPPING = RecordMapping(
    organisation=Organisation.GEMEENTE_VEILIGHEID,
    type_field="berichtsoort",
    reference_field="kenmerk",
    types={
        "aanmelding": TypeMapping(
            EventType.REFERRAL,
            {
                "reden": "reason",
                "doel_casus": "goal",
                "uit_te_nodigen": "invited_partners",
                "betrokkene_geinformeerd": "subject_informed",
                "reden_uitstel_informeren": "informing_deferred_reason",
            },
            example={
                "thema": "cter",
                "reden": "Signalen van meerdere partners over radicalisering.",
                "doel_casus": "Een gezamenlijk plan met een regiehouder.",
                "uit_te_nodigen": "politie;om;ggz",
                "betrokkene_geinformeerd": "ja",
            },
        ),
        "signaal": TypeMapping(
            EventType.SIGNAL,
            {
                "omschrijving_gedrag": "observed_behaviour",
                "ideologie": "ideology",
                "urgentie": "urgency",
                "toelichting": "description",
            },
            example={
                "thema": "cter",
                "omschrijving_gedrag": "Verspreidt extremistische content.",
                "ideologie": "Extreemrechts gedachtegoed.",
                "urgentie": "normaal",
            },
        ),
        "sluiting": TypeMapping(
            EventType.CASE_CLOSED,
            {"reden_sluiting": "closed_reason"},
            example={"reden_sluiting": "Plan uitgevoerd, geen zorgen meer."},
        ),
        **PARTNER_REQUESTS,
    },
    values={**REQUEST_VALUES, "urgentie": URGENCY, "betrokkene_geinformeerd": YES_NO},
    lists=frozenset({"aan", "uit_te_nodigen"}),
)


class GemeenteVeiligheidConfig(HttpPartnerConfig):
    """Gemeente (veiligheid): webhook for referrals and signals, POST for the copies it may receive."""


CONNECTOR = http_connector(
    MAPPING, GemeenteVeiligheidConfig, "Gemeente veiligheidsdomein - aanmeldingen via HTTP webhook, levering via HTTP"
)
