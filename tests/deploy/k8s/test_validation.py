"""deploy/k8s validated offline: each overlay's `kustomize build` against the vendored Kubernetes and Strimzi
schemas (kubeconform, strict), and the alert rules with promtool. The tools are built by `make k8s-tools`
(deploy/k8s/tools.sh) into the cache dir; a test skips, naming the missing tool, only when it is not there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schakel.settings import Settings

K8S = Path(__file__).parents[3] / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
SCHEMAS = str(K8S / "schemas") + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"


def _tool(name: str) -> str:
    path = Settings().cache_dir / "go-bin" / name
    if not path.exists():
        pytest.skip(f"{name} not built: `make k8s-tools` (promtool: `make promtool`) builds it, given a Go toolchain")
    return str(path)


def _build(overlay: str) -> str:
    return subprocess.run(
        [_tool("kustomize"), "build", str(K8S / "overlays" / overlay)], check=True, capture_output=True, text=True
    ).stdout


def _kubeconform(documents: str) -> subprocess.CompletedProcess[str]:
    command = [_tool("kubeconform"), "-strict", "-summary", "-schema-location", SCHEMAS, "-"]
    return subprocess.run(command, input=documents, capture_output=True, text=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_against_the_vendored_schemas(overlay: str) -> None:
    result = _kubeconform(_build(overlay))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Skipped: 0" in result.stdout  # every kind has a vendored schema


def test_a_misspelt_strimzi_field_is_refused() -> None:
    broken = _build("test-region").replace("patternType: literal", "patternTyp: literal", 1)
    assert _kubeconform(broken).returncode != 0


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        [_tool("promtool"), "check", "rules", str(K8S / "base" / "alerts" / "schakel.rules.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
