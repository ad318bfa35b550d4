"""``schakel status``: gathers the facts :mod:`schakel.health` judges - from Kafka, the covenants, the lineage store
and the connectors' ``/healthz``. Every question is asked once, with a short timeout; a part that cannot be asked
is reported as such rather than stopping the others.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from schakel.health import Broker, ConnectorHealth, Covenant, Group, Lineage, Status
from schakel.settings import Settings

__all__ = ["gather"]

_HEALTH_TIMEOUT = 3.0
_ATTEMPTS = 3


def _broker(settings: Settings) -> Broker:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from schakel.deploy.kafka.broker import LocalBroker, kafka_version

    try:
        admin = KafkaAdminClient(**settings.kafka_client_config("admin"), request_timeout_ms=5_000)  # the operator
    except (KafkaError, OSError):
        return Broker(settings.kafka_bootstrap, answering=False)
    try:
        cluster = admin.describe_cluster()
        api = ".".join(str(part) for part in admin._client.check_version())
    except (KafkaError, OSError):
        return Broker(settings.kafka_bootstrap, answering=False)
    finally:
        admin.close()
    local = LocalBroker(settings).status()
    version = f"{kafka_version()} (local broker, pid {local.pid})" if local.managed else f"{api} (protocol)"
    nodes = [f"{node['broker_id']} {node['host']}:{node['port']}" for node in cluster.get("brokers", [])]
    return Broker(settings.kafka_bootstrap, True, nodes, version, cluster.get("controller_id"))


def _covenants(settings: Settings) -> tuple[list[Covenant], str | None]:
    from schakel.consent import load_policy
    from schakel.errors import SchakelError

    try:
        policy = load_policy(settings.covenants_dir)
    except SchakelError as error:
        return [], str(error).splitlines()[0]
    now = datetime.now(UTC)
    return [
        Covenant(
            covenant.ref,
            covenant.in_force(now),
            f"{covenant.valid_from.isoformat()} - {covenant.valid_until or 'open'}",
        )
        for covenant in policy.covenants
    ], None


def _lineage(settings: Settings) -> Lineage:
    from schakel.errors import SchakelError
    from schakel.lineage import open_store

    where = "PostgreSQL (SCHAKEL_LINEAGE_URL)" if settings.lineage_url else "SQLite in the data directory"
    try:
        with open_store(settings.lineage_url, settings.data_dir) as store:
            heads = {chain: f"{head.next_seq} records, last hash {head.hash}" for chain, head in store.heads().items()}
            return Lineage(where, store.count(), heads)
    except (SchakelError, OSError) as error:
        return Lineage(where, error=f"the lineage store cannot be opened ({type(error).__name__})")


def _connectors(settings: Settings) -> list[ConnectorHealth]:
    from schakel.connectors.presence import announced

    found: list[ConnectorHealth] = []
    for presence in announced(settings):
        since = f"pid {presence.pid}, port {presence.port}, since {presence.started_at}"
        if not presence.alive():
            found.append(ConnectorHealth(presence.name, presence.organisation, "stopped", f"was {since}"))
            continue
        try:
            with urllib.request.urlopen(presence.health_url, timeout=_HEALTH_TIMEOUT) as answer:  # noqa: S310
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        except (OSError, ValueError):
            found.append(ConnectorHealth(presence.name, presence.organisation, "unreachable", since))
            continue
        errors = sorted({str(part["last_error"]) for part in body.get("parts", []) if part.get("last_error")})
        detail = since + (f"; last errors: {', '.join(errors)}" if errors else "")
        found.append(ConnectorHealth(presence.name, presence.organisation, str(body.get("status", "down")), detail))
    return found


def gather(settings: Settings) -> Status:
    """Everything ``schakel status`` shows, asked of the running system."""
    from kafka.errors import KafkaError

    from schakel.lineage.ingest import DEFAULT_GROUP_ID
    from schakel.offsets import group_lag, group_members, positions
    from schakel.streams.topics import HubTopics

    broker = _broker(settings)
    covenants, covenant_error = _covenants(settings)
    status = Status(
        data_dir=str(settings.data_dir),
        broker=broker,
        covenants=covenants,
        covenant_error=covenant_error,
        lineage=_lineage(settings),
        connectors=_connectors(settings),
    )
    if not broker.answering:
        return status
    topics = HubTopics.of(settings)
    hub_group = f"{settings.topic_prefix}hub"  # the Faust app id (streams/hub.py)
    failure: Exception | None = None
    for attempt in range(_ATTEMPTS):  # a group's coordinator may not be known yet on the first question
        try:
            hub = Group(
                hub_group, group_members(settings, hub_group), group_lag(settings, hub_group, topics.all_ingress())
            )
            ingest = Group(
                DEFAULT_GROUP_ID,
                group_members(settings, DEFAULT_GROUP_ID),
                group_lag(settings, DEFAULT_GROUP_ID, topics.lineage_sources()),
            )
            dlq, last_hour = positions(settings, topics.dlq, since=datetime.now(UTC) - timedelta(hours=1))
        except (KafkaError, OSError) as error:
            failure = error
            time.sleep(attempt + 1)
            continue
        return replace(status, hub=hub, ingest=ingest, dead_letters_total=dlq.held, dead_letters_last_hour=last_hour)
    return replace(status, kafka_error=f"Kafka did not answer about groups and topics ({type(failure).__name__})")
