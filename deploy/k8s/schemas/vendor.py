"""Vendor the JSON schemas kubeconform checks deploy/k8s against (run by hand when a pinned version moves).

    python deploy/k8s/schemas/vendor.py kubernetes DIR   # DIR: a kubernetes-json-schema "vX.Y.Z-local-strict" folder
    python deploy/k8s/schemas/vendor.py strimzi CRD...   # Strimzi CRD YAML files (packaging/install/cluster-operator)

Kubernetes: only the kinds deploy/k8s uses, each made standalone (its ``$ref``s into ``_definitions.json``
inlined; no kind used here is recursive), so kubeconform needs no network and no relative references.
Strimzi: each served version's ``openAPIV3Schema``, made strict (``additionalProperties: false``
wherever properties are listed and unknown fields are not preserved), so a misspelt field fails as it would on
the API server. File names follow kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json``. The versions are
in README.md beside this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
KUBERNETES_KINDS = [
    "configmap-v1",
    "service-v1",
    "deployment-apps-v1",
    "cronjob-batch-v1",
    "poddisruptionbudget-policy-v1",
    "networkpolicy-networking-v1",
]


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            return _inline(definitions[ref.rsplit("/", 1)[1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, definitions) for value in node]
    return node


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: _strict(value) for key, value in node.items()}
        preserve = out.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in out and "additionalProperties" not in out and not preserve:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(value) for value in node]
    return node


def _write(name: str, schema: Any) -> None:
    (HERE / f"{name}.json").write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.write(f"wrote {name}.json\n")


def kubernetes(folder: Path) -> None:
    definitions = json.loads((folder / "_definitions.json").read_text())["$defs"]
    for name in KUBERNETES_KINDS:
        _write(name, _inline(json.loads((folder / f"{name}.json").read_text()), definitions))


def strimzi(files: list[Path]) -> None:
    for path in files:
        crd = yaml.safe_load(path.read_text())
        kind = crd["spec"]["names"]["kind"].lower()
        group = crd["spec"]["group"].split(".")[0]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = _strict(version["schema"]["openAPIV3Schema"])
                _write(f"{kind}-{group}-{version['name']}", schema)


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["kubernetes", folder]:
            kubernetes(Path(folder))
        case ["strimzi", *crds] if crds:
            strimzi([Path(crd) for crd in crds])
        case _:
            sys.exit(__doc__)
