"""Every secret a workload of deploy/k8s/base references has a maker: Strimzi (a KafkaUser's password, the cluster
CA) or the region's secret store, from a template in deploy/k8s/secrets that names its keys and holds no value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from schakel.deploy import manifests

K8S = Path(__file__).parents[3] / "deploy" / "k8s"
TEMPLATES = K8S / "secrets" / "templates.yaml"
KEYS_ANNOTATION = "schakel.zorgveiligheid.nl/keys"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _base() -> list[dict[str, Any]]:
    return [document for path in sorted((K8S / "base").rglob("*.yaml")) for document in _documents(path)]


def _pod_specs(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for document in documents:
        if document.get("kind") == "Deployment":
            yield document["spec"]["template"]["spec"]
        elif document.get("kind") == "CronJob":
            yield document["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def references(documents: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    """(secret, key) of every secretKeyRef, and (secret, None) of every secret volume, in the workloads."""
    found: set[tuple[str, str | None]] = set()
    for spec in _pod_specs(documents):
        for container in spec.get("containers", []):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.add((ref["name"], ref["key"]))
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                found.add((volume["secret"]["secretName"], None))
    return found


def provided(documents: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    """What Strimzi makes for the base's KafkaUsers and cluster, and what the templates declare."""
    made: set[tuple[str, str | None]] = {(f"{manifests.CLUSTER}-cluster-ca-cert", None)}
    for document in documents:
        if document.get("kind") == "KafkaUser":
            made |= {(document["metadata"]["name"], "password"), (document["metadata"]["name"], None)}
    for template in _documents(TEMPLATES):
        name = template["metadata"]["name"]
        made.add((name, None))
        made |= {(name, key.strip()) for key in template["metadata"]["annotations"][KEYS_ANNOTATION].split(",")}
    return made


def test_every_referenced_secret_has_a_maker() -> None:
    base = _base()
    assert {name for name, _ in references(base)} >= {
        "schakel-pseudonym-key",
        "schakel-lineage-db",
        "schakel-keystore-db",
        "schakel-kek",
    }
    assert references(base) - provided(base) == set()


def test_a_secret_nobody_makes_is_noticed() -> None:
    base = _base()
    hub = next(doc for doc in base if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "hub")
    hub["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "schakel-forgotten", "key": "token"}}}
    )
    assert references(base) - provided(base) == {("schakel-forgotten", "token")}


def test_the_templates_hold_no_value_and_are_not_in_the_base() -> None:
    for template in _documents(TEMPLATES):
        assert template["apiVersion"] == "v1"
        assert template["kind"] == "Secret"
        assert template["type"] == "Opaque"
        assert "data" not in template
        assert "stringData" not in template
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert not any("secret" in str(resource) for resource in kustomization["resources"])
