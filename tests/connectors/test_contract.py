"""All eight shipped partner connectors pass the contract test kit against the real broker and their simulated
partner systems (HTTP services, directories, databases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from schakel.connectors.simulation import SimulatedPartner
from schakel.connectors.testing import ConnectorContract
from schakel.schemas import Event, FraudType, SignalEvent, Urgency


class _Shipped(ConnectorContract):
    @pytest.fixture
    def contract_bootstrap(self, kafka_bootstrap: str) -> str:
        return kafka_bootstrap


class TestPolitie(_Shipped):
    connector_name = "politie"

    def check_event(self, partner: SimulatedPartner, record: Mapping[str, Any], event: Event) -> None:
        super().check_event(partner, record, event)
        assert isinstance(event, SignalEvent)
        assert event.subject.bsn == record["bsn"]
        assert event.payload.observed_behaviour == record["gedragsomschrijving"]
        assert event.payload.urgency is Urgency.HIGH  # "urgentie": "hoog"
        assert event.payload.fraud_type is FraudType.PURCHASE_FRAUD  # "fraudevorm": "aankoopfraude"
        assert event.purpose == "money-mule-prevention"


class TestGemeenteVeiligheid(_Shipped):
    connector_name = "gemeente-veiligheid"


class TestGgz(_Shipped):
    connector_name = "ggz"


class TestOm(_Shipped):
    connector_name = "om"


class TestRvdk(_Shipped):
    connector_name = "rvdk"


class TestReclassering(_Shipped):
    connector_name = "reclassering"


class TestGemeenteSociaal(_Shipped):
    connector_name = "gemeente-sociaal"


class TestZvh(_Shipped):
    connector_name = "zvh"
