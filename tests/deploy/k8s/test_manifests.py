"""The generated Kubernetes manifests: committed = generated, and the KafkaUsers carry exactly the broker's grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from schakel.deploy import manifests
from schakel.schemas import Organisation
from schakel.settings import Settings
from schakel.streams.topics import ADMIN, Grant, HubTopics, Operation, access_grants, principals, topic_retention

BASE = Path(__file__).parents[3] / "deploy" / "k8s" / "base"
_OPERATION: dict[str, Operation] = {
    "Read": "READ",
    "Write": "WRITE",
    "Create": "CREATE",
    "Describe": "DESCRIBE",
    "AlterConfigs": "ALTER_CONFIGS",
    "Delete": "DELETE",
    "All": "ALL",
}
_RESOURCE: dict[str, Literal["TOPIC", "GROUP"]] = {"topic": "TOPIC", "group": "GROUP"}


@pytest.mark.parametrize("path", sorted(manifests.generated(), key=str), ids=str)
def test_committed_manifest_is_the_generated_one(path: Path) -> None:
    committed = (BASE / path).read_text()
    assert committed == manifests.generated()[path], f"regenerate with `make k8s-manifests` ({path})"


def _grants_of(users: list[dict[str, Any]]) -> set[Grant]:
    grants = set()
    for user in users:
        for acl in user["spec"].get("authorization", {}).get("acls", []):
            resource = acl["resource"]
            for operation in acl["operations"]:
                grants.add(
                    Grant(
                        user["metadata"]["name"],
                        _RESOURCE[resource["type"]],
                        resource["name"],
                        _OPERATION[operation],
                        prefixed=resource["patternType"] == "prefix",
                    )
                )
    return grants


def test_kafka_users_carry_exactly_the_layout_grants() -> None:
    users = list(yaml.safe_load_all((BASE / "strimzi" / "users.yaml").read_text()))
    assert sorted(user["metadata"]["name"] for user in users) == sorted(principals())
    assert _grants_of(users) == set(access_grants(HubTopics(manifests.PREFIX)))
    admin = next(user for user in users if user["metadata"]["name"] == ADMIN)
    assert "authorization" not in admin["spec"]  # a super user of the Kafka resource, no ACLs of its own


def test_a_grant_dropped_from_the_users_is_noticed() -> None:
    users = manifests.user_resources(HubTopics(manifests.PREFIX))
    politie = next(user for user in users if user["metadata"]["name"] == Organisation.POLITIE.value)
    politie["spec"]["authorization"]["acls"].pop()
    assert _grants_of(users) != set(access_grants(HubTopics(manifests.PREFIX)))


def test_every_hub_topic_has_a_kafka_topic() -> None:
    topics = list(yaml.safe_load_all((BASE / "strimzi" / "topics.yaml").read_text()))
    assert sorted(topic["spec"]["topicName"] for topic in topics) == sorted(HubTopics(manifests.PREFIX).all())
    assert {topic["spec"]["replicas"] for topic in topics} == {3}


def test_kafka_topics_keep_records_as_long_as_the_hub_keeps_them_on_its_own_broker() -> None:
    """The dead letters (which may carry a person's sealed data), lineage and the receipts topics expire in
    Kubernetes as they do where the hub makes its topics itself; nothing is kept for ever."""
    topics = {
        topic["spec"]["topicName"]: topic
        for topic in yaml.safe_load_all((BASE / "strimzi" / "topics.yaml").read_text())
    }
    layout = HubTopics(manifests.PREFIX)
    expected = topic_retention(Settings.model_construct(topic_prefix=manifests.PREFIX))
    for name in (layout.dlq, *layout.lineage_sources()):
        assert str(topics[name]["spec"]["config"]["retention.ms"]) == expected[name]["retention.ms"]
    assert all(topic["spec"]["config"].get("retention.ms", 0) != -1 for topic in topics.values())


def test_a_partner_connector_holds_only_its_own_kafka_password() -> None:
    resources = manifests.connector_resources()
    deployments = [resource for resource in resources if resource["kind"] == "Deployment"]
    assert len(deployments) == len(Organisation)
    for deployment in deployments:
        org = deployment["metadata"]["name"].removeprefix("connector-")
        pod = deployment["spec"]["template"]["spec"]
        secrets = {
            env["valueFrom"]["secretKeyRef"]["name"]
            for container in pod["containers"]
            for env in container.get("env", [])
            if "secretKeyRef" in env.get("valueFrom", {})
        }
        secrets |= {volume["secret"]["secretName"] for volume in pod["volumes"] if "secret" in volume}
        assert secrets == {org, f"{manifests.CLUSTER}-cluster-ca-cert", *manifests.KEY_STORE_SECRETS}
