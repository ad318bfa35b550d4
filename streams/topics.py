"""The hub's topics, and creating them.

Every partner has an ``ingress.<org>`` topic (its connector writes there), an ``egress.<org>`` topic (what it
may receive) and a ``receipts.<org>`` topic (its sink's delivery receipts). ``lineage`` holds the hub's records: one
per decision, links, bundles, subject requests, retention notices; ``dlq`` holds what could not be processed, with the
reason in its headers. All carry the configured prefix (default ``schakel.``). The lineage store is fed from
``lineage`` and every ``receipts.<org>`` topic (:meth:`HubTopics.lineage_sources`); from ``receipts.<org>`` it
takes only receipts of which ``<org>`` is the recipient (:mod:`schakel.lineage.ingest`).

The topic layout is also the single source of truth for who may do what on the broker (:func:`access_grants`): one
Kafka identity per component, and the grants below are all it has (the broker denies everything else):

- a partner's connector (principal = its organisation code) WRITEs its own ``ingress.<org>``, READs its own
  ``egress.<org>`` with its own consumer group ``<prefix>-sink-<org>``, and WRITEs (never reads) its own
  ``receipts.<org>`` and ``dlq``: its sink writes delivery receipts and dead letters there (and the contact point,
  ``zvh``, its answers to access requests: ``schakel subject report``). It may not write ``lineage``. *Why a topic per
  partner:* Kafka does not tell the store who wrote a record; the topic does. A compromised connector can write only
  receipts naming its own organisation as recipient - the ingest keeps anything else out - never a decision or a
  ``link`` joining two people's answers.
- ``hub`` READs every ingress topic, WRITEs every egress topic, ``lineage`` and ``dlq``, may CREATE the hub's topics
  (it creates them at start-up, the receipts topics too) and set the retention of ``dlq``, ``lineage`` and the
  receipts topics, and has ALL on the topics prefixed with its Faust app id plus READ on its group (Faust creates
  ``<app id>-__assignor-__leader`` and the table changelogs; the hub's own steps ``hub-link`` and ``hub-person`` are
  ``<prefix>hub-...`` too, so this grant covers them).
- ``lineage`` READs ``lineage`` and every ``receipts.<org>``, with the lineage store's consumer group (or one named
  after it: ``schakel-lineage-store-<name>`` for a second store), and may DELETE records from them: ``schakel
  lineage prune`` cuts each topic behind the store, below what the store has ingested and pruned
  (:mod:`schakel.lineage.retention`). *Why this identity:* it is the store's, the one component that knows what the
  store holds; the hub and the partners, who write lineage, may not delete it.
- ``console`` (the web console) READs every egress topic and ``dlq`` (the inboxes, the dead-letter page), ``lineage``
  (the decision behind each inbox item; it reads no receipts, so it has no receipts topic) and ``ingress.zvh`` (the
  ZVH's own triage and plans for its case board), with its own group ``<prefix>-console``. It shows each user only
  their organisation's items: that rule is the console's (``schakel.console.access``), on the server.
- ``admin`` is a super user on the broker: operators (``schakel topics``, ``schakel kafka users|acls``) only.

*Upgrading from a layout where partners wrote ``lineage``:* receipts already on ``lineage`` stay valid (the store
holds them, and the ingest still takes every kind of record from ``lineage``). The order: create the receipts topics
and add the new grants (``schakel topics`` as admin, or apply the regenerated Strimzi manifests); restart ``lineage
ingest`` (it now reads the receipts topics too); then the connectors and the contact point's ``schakel subject
report`` (they now write their receipts topic); then, on a broker of your own, take the partners' WRITE on
``lineage`` away (``schakel kafka acls show`` lists it as *extra*; ``acls apply`` never deletes a grant). Strimzi's
User Operator takes it away when the manifests are applied: a sink of the old version is then refused its receipts,
commits nothing and reads its batch again until its new version runs - deliveries pause, nothing is lost.

All ingress topics have the same partition count as the consent table's changelog, and every ingress record is keyed
by the subject's pseudonym: the same person lands on the same partition number of every ingress topic, so one worker
holds that person's consent state and sees their events in order (see ``schakel.streams.hub``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from schakel.lineage.ingest import DEFAULT_GROUP_ID as LINEAGE_GROUP
from schakel.lineage.ingest import PRINCIPAL as LINEAGE
from schakel.schemas import Organisation
from schakel.settings import Settings

__all__ = [
    "ADMIN",
    "CONSOLE",
    "HUB",
    "HUB_TABLES",
    "LINEAGE",
    "Grant",
    "HubTopics",
    "access_grants",
    "cluster_replication",
    "create_topics",
    "ingress_sender",
    "lineage_retention_ms",
    "principals",
    "topic_replication",
    "topic_retention",
    "unreadable_topics",
]

_log = logging.getLogger("schakel.streams.topics")

ADMIN = "admin"
HUB = "hub"
CONSOLE = "console"

_INGRESS = "ingress."
_GRANT_WAIT_SECONDS = 60.0
"""How long a starting worker waits for a grant on a topic it must read (an operator's ``acls apply`` under way)."""
_EGRESS = "egress."
_RECEIPTS = "receipts."


@dataclass(frozen=True)
class HubTopics:
    """The names of the hub's topics under one prefix."""

    prefix: str

    @classmethod
    def of(cls, settings: Settings) -> HubTopics:
        return cls(settings.topic_prefix)

    def ingress(self, org: Organisation | str) -> str:
        return f"{self.prefix}{_INGRESS}{org}"

    def egress(self, org: Organisation | str) -> str:
        return f"{self.prefix}{_EGRESS}{org}"

    def receipts(self, org: Organisation | str) -> str:
        """The partner's own lineage topic: its sink's delivery receipts (the partner alone may write it)."""
        return f"{self.prefix}{_RECEIPTS}{org}"

    @property
    def lineage(self) -> str:
        return f"{self.prefix}lineage"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq"

    @property
    def link(self) -> str:
        """The hub's internal step keyed by a case's pseudonym: events with a BSN and a case id meet the link table."""
        return f"{self.prefix}hub-link"

    @property
    def person(self) -> str:
        """The hub's internal step keyed by a person's pseudonym: events resolved to a person are decided there."""
        return f"{self.prefix}hub-person"

    def all_ingress(self) -> list[str]:
        return [self.ingress(org) for org in Organisation]

    def all_egress(self) -> list[str]:
        return [self.egress(org) for org in Organisation]

    def all_receipts(self) -> list[str]:
        return [self.receipts(org) for org in Organisation]

    def lineage_sources(self) -> list[str]:
        """The topics the lineage store is fed from (and cuts behind itself): ``lineage`` and every receipts topic."""
        return [self.lineage, *self.all_receipts()]

    def all(self) -> list[str]:
        return [
            *self.all_ingress(),
            *self.all_egress(),
            *self.lineage_sources(),
            self.dlq,
            self.link,
            self.person,
        ]

    @property
    def hub_app_id(self) -> str:
        """The hub's Faust app id: its consumer group and the prefix of its internal topics."""
        return f"{self.prefix}hub"

    @property
    def changelogs(self) -> list[str]:
        """The compacted changelog topics of the hub's tables (Faust's names for them)."""
        return [f"{self.hub_app_id}-{table}-changelog" for table in HUB_TABLES]

    @property
    def purge(self) -> str:
        """The retention job's purge commands to the worker that owns a person's table state (keyed by the person,
        co-partitioned with the ingress topics; internal to the hub: under its app id's prefix)."""
        return f"{self.hub_app_id}-purge"

    def sink_group(self, org: Organisation | str) -> str:
        """``schakel-sink-<org>`` under the default prefix; another prefix gets its own group (tests, second hubs)."""
        return f"{self.prefix.rstrip('.')}-sink-{org}"

    @property
    def console_group(self) -> str:
        return f"{self.prefix.rstrip('.')}-console"


def principals() -> list[str]:
    """Every Kafka identity of a schakel installation: admin, the hub, lineage ingest, the console, each partner."""
    return [ADMIN, HUB, LINEAGE, CONSOLE, *(org.value for org in Organisation)]


Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "ALTER_CONFIGS", "DELETE", "ALL"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW rule: ``principal`` may ``operation`` on the topic or group ``name`` (or every name it prefixes)."""

    principal: str
    resource: Literal["TOPIC", "GROUP"]
    name: str
    operation: Operation
    prefixed: bool = False

    def __str__(self) -> str:
        pattern = "prefixed" if self.prefixed else "literal"
        return f"User:{self.principal} {self.operation} {self.resource} {self.name} ({pattern})"


def access_grants(topics: HubTopics) -> list[Grant]:
    """Every grant of the hub's topics under one prefix (see the module docstring); admin needs none."""
    grants: list[Grant] = []
    for org in Organisation:
        grants += [
            Grant(org.value, "TOPIC", topics.ingress(org), "WRITE"),
            Grant(org.value, "TOPIC", topics.egress(org), "READ"),
            Grant(org.value, "GROUP", topics.sink_group(org), "READ"),
            Grant(org.value, "TOPIC", topics.receipts(org), "WRITE"),
            Grant(org.value, "TOPIC", topics.dlq, "WRITE"),
        ]
    grants += [Grant(HUB, "TOPIC", name, "READ") for name in topics.all_ingress()]
    grants += [Grant(HUB, "TOPIC", name, "WRITE") for name in (*topics.all_egress(), topics.lineage, topics.dlq)]
    grants += [Grant(HUB, "TOPIC", name, "CREATE") for name in topics.all()]
    # create_topics sets the retention of an existing dlq, lineage and receipts topic
    grants += [Grant(HUB, "TOPIC", name, "ALTER_CONFIGS") for name in (topics.dlq, *topics.lineage_sources())]
    # ... and must see that a receipts topic exists (it neither reads nor writes one: DESCRIBE, no more) - else it
    # asked to create them at every start and never set their retention
    grants += [Grant(HUB, "TOPIC", name, "DESCRIBE") for name in topics.all_receipts()]
    grants += [
        Grant(HUB, "TOPIC", f"{topics.hub_app_id}-", "ALL", prefixed=True),
        Grant(HUB, "GROUP", topics.hub_app_id, "READ"),
    ]
    for name in topics.lineage_sources():
        grants += [
            Grant(LINEAGE, "TOPIC", name, "READ"),
            Grant(LINEAGE, "TOPIC", name, "DELETE"),  # the topic cut behind the store
        ]
    # a second store: --group <this>-<name>
    grants.append(Grant(LINEAGE, "GROUP", LINEAGE_GROUP, "READ", prefixed=True))
    grants += [
        Grant(CONSOLE, "TOPIC", name, "READ")
        for name in (*topics.all_egress(), topics.dlq, topics.lineage, topics.ingress(Organisation.ZVH))
    ]
    grants.append(Grant(CONSOLE, "GROUP", topics.console_group, "READ"))
    return grants


HUB_TABLES = ("subjects", "links", "agenda", "event-ids", "subject-requests")
"""The hub's Faust tables (schakel.streams.hub); their changelogs are created with the hub's topics."""


def ingress_sender(topic: str, prefix: str) -> Organisation | None:
    """The partner whose ingress topic this is, or None (an egress or any other topic has no sender)."""
    head = f"{prefix}{_INGRESS}"
    if not topic.startswith(head):
        return None
    try:
        return Organisation(topic[len(head) :])
    except ValueError:
        return None


def lineage_retention_ms(settings: Settings) -> int:
    """The ``retention.ms`` of ``lineage`` and the receipts topics: the longest lineage period of any covenant or of
    the hub (:meth:`schakel.lineage.pruning.LineagePeriods.longest`), so that a topic keeps no record longer than the
    store may; ``schakel lineage prune`` cuts it sooner, behind the store."""
    from schakel.lineage.retention import lineage_periods

    return int(lineage_periods(settings).longest().total_seconds() * 1000)


def topic_retention(settings: Settings) -> dict[str, dict[str, str]]:
    """The topic configurations that differ from the broker's defaults: lineage and the receipts topics for the
    longest lineage period (:func:`lineage_retention_ms`), dead letters for a while, the tables' changelogs compacted
    (as Faust makes them)."""
    topics = HubTopics.of(settings)
    lineage = {"retention.ms": str(lineage_retention_ms(settings))}
    return {
        **{name: lineage for name in topics.lineage_sources()},
        topics.dlq: {"retention.ms": str(settings.dlq_retention_days * 24 * 3600 * 1000)},
        **{name: {"cleanup.policy": "compact"} for name in topics.changelogs},
    }


def cluster_replication(settings: Settings) -> int:
    """The replication factor of the topics the hub creates: ``SCHAKEL_REPLICATION_FACTOR`` when set, else -1 - the
    cluster's own ``default.replication.factor`` (CreateTopics v4+), with its ``min.insync.replicas`` as the
    topics' minimum of in-sync replicas.

    *Why the cluster decides:* the number of brokers the hub could see would be a guess (a broker that is down at
    that moment is not listed, and its topics would be made with fewer copies, silently); the cluster's defaults are
    what its operator set (``schakel kafka up --nodes 3`` sets three copies, two in sync: ``deploy/kafka/cluster.py``),
    and a cluster that cannot place that many copies refuses the topic rather than making a weaker one.
    """
    return settings.replication_factor if settings.replication_factor is not None else -1


def topic_replication(settings: Settings, topic: str, *, principal: str = ADMIN) -> int:
    """How many copies the cluster keeps of ``topic``'s partitions (its first partition's replicas)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(principal), client_id=f"schakel-{principal}")
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    partitions = (described[0].get("partitions") or []) if described else []
    return len(partitions[0]["replica_nodes"]) if partitions else 1


def unreadable_topics(
    settings: Settings, names: Sequence[str], *, principal: str, wait: float | None = None
) -> list[str]:
    """The topics of ``names`` that ``principal`` may not read, after waiting up to ``wait`` seconds (default 60) for
    grants an operator has just added; empty when it may read them all.

    *Why a worker checks before it starts:* Faust subscribes to every topic it is given, and a topic the broker
    hides from the hub (no READ, so no DESCRIBE either) is simply left out of the assignment - the worker runs, says
    nothing, and that partner's events wait unprocessed, with no consumer lag to alert on (the group never reads the
    topic). A topic the principal may not describe is absent from its metadata, which is what is checked here."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        **settings.kafka_client_config(principal), client_id=f"schakel-{principal}-check", enable_auto_commit=False
    )
    try:
        deadline = time.monotonic() + (_GRANT_WAIT_SECONDS if wait is None else wait)
        while True:
            visible = consumer.topics()
            missing = [name for name in names if name not in visible]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(1.0)
    finally:
        consumer.close()


def create_topics(settings: Settings, names: list[str] | None = None, *, principal: str = ADMIN) -> list[str]:
    """Create the hub's topics (or ``names``) that do not exist yet, as ``principal``; return those created.

    Partitions come from the settings; the replication factor from the settings when set, else from the cluster
    (see :func:`cluster_replication`). ``lineage`` and the receipts topics keep their records for the longest lineage
    period (:func:`lineage_retention_ms`; the store is the evidence once it ingested them). ``dlq`` keeps a dead
    letter - and the original value it carries for a resend, which may hold personal data - for
    ``SCHAKEL_DLQ_RETENTION_DAYS`` only; an existing ``dlq``, ``lineage`` or receipts topic gets its retention too.
    The hub may create its own topics and set the dlq's retention (``principal=HUB``); anything else is an operator's
    job (``admin``).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topics = HubTopics.of(settings)
    # The tables' changelogs too: a worker that starts before they exist may be assigned its partitions while the
    # changelogs are still missing from its metadata, and Faust then fails every table write on that worker
    # (PartitionsMismatch: "the changelog topic has 0 partitions") until it restarts.
    wanted = names if names is not None else [*topics.all(), *topics.changelogs, topics.purge]
    admin = KafkaAdminClient(**settings.kafka_client_config(principal), client_id=f"schakel-{principal}")
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        retention = topic_retention(settings)
        present = [name for name in (topics.dlq, *topics.lineage_sources()) if name in wanted and name in existing]
        if present:
            configs = [ConfigResource(ConfigResourceType.TOPIC, name, retention[name]) for name in present]
            altered = admin.alter_configs(configs, raise_on_unknown=False)
            for name, outcome in (altered.get("topic") or {}).items():
                if outcome != "OK":  # e.g. a broker whose ACLs predate the grant: the topic keeps its retention
                    _log.warning("could not set the retention of topic %s: %s", name, outcome)
        if not missing:
            return []
        new = [
            NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=cluster_replication(settings),
                topic_configs=retention.get(name, {}),
            )
            for name in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker created them at the same moment
            admin.create_topics(new)
        return missing
    finally:
        admin.close()
