"""The hub's topics, and creating them.

Every partner has an ``ingress.<org>`` topic (its connector writes there) and an ``egress.<org>`` topic (what it
may receive). ``lineage`` holds one record per decision and per delivery receipt; ``dlq`` holds what could not be
processed, with the reason in its headers. All carry the configured prefix (default ``schakel.``).

All ingress topics have the same partition count as the consent table's changelog, and every ingress record is keyed
by the subject's pseudonym: the same person lands on the same partition number of every ingress topic, so one worker
holds that person's consent state and sees their events in order (see ``schakel.streams.hub``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from schakel.schemas import Organisation
from schakel.settings import Settings

__all__ = ["HubTopics", "create_topics", "ingress_sender", "topic_retention"]

_INGRESS = "ingress."
_EGRESS = "egress."


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

    def all(self) -> list[str]:
        return [*self.all_ingress(), *self.all_egress(), self.lineage, self.dlq, self.link, self.person]


def ingress_sender(topic: str, prefix: str) -> Organisation | None:
    """The partner whose ingress topic this is, or None (an egress or any other topic has no sender)."""
    head = f"{prefix}{_INGRESS}"
    if not topic.startswith(head):
        return None
    try:
        return Organisation(topic[len(head) :])
    except ValueError:
        return None


def topic_retention(settings: Settings) -> dict[str, dict[str, str]]:
    """The topic configurations that differ from the broker's defaults: lineage forever, dead letters for a while."""
    topics = HubTopics.of(settings)
    return {
        topics.lineage: {"retention.ms": "-1"},
        topics.dlq: {"retention.ms": str(settings.dlq_retention_days * 24 * 3600 * 1000)},
    }


def create_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the hub's topics (or ``names``) that do not exist yet; return those created.

    Partitions and replication factor come from the settings. ``lineage`` keeps its records without a time limit:
    it is the evidence. ``dlq`` keeps a dead letter - and the original value it carries for a resend, which may hold
    personal data - for ``SCHAKEL_DLQ_RETENTION_DAYS`` only; an existing ``dlq`` topic gets that retention too.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topics = HubTopics.of(settings)
    wanted = names if names is not None else topics.all()
    admin = KafkaAdminClient(**settings.kafka_client_config(), client_id="schakel-admin")
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        retention = topic_retention(settings)
        if topics.dlq in wanted and topics.dlq in existing:
            dlq = ConfigResource(ConfigResourceType.TOPIC, topics.dlq, retention[topics.dlq])
            admin.alter_configs([dlq], raise_on_unknown=False)
        if not missing:
            return []
        new = [
            NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=retention.get(name, {}),
            )
            for name in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker created them at the same moment
            admin.create_topics(new)
        return missing
    finally:
        admin.close()
