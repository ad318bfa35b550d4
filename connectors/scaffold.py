"""``schakel connectors new NAME``: a connector package a partner's IT team can build on within a day.

The package is the shape of a shipped connector: a record mapping in the partner's own words, a pydantic config
model, a :class:`~schakel.connectors.contract.Connector` registered in the ``schakel.connectors`` entry-point group,
a simulated partner system, and a test module that subclasses the contract test kit - so the first ``pytest``
proves the new connector honours the contract. It starts on the file-drop transport (no ports, no database); change
``http_connector`` / ``database_connector`` in one line, or write your own :class:`Source` and :class:`Sink`.
"""

from __future__ import annotations

import re
from pathlib import Path

from schakel.connectors.errors import ConnectorError
from schakel.schemas import Organisation

__all__ = ["scaffold"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}$")

_PYPROJECT = """[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "schakel-connector-{name}"
version = "0.1.0"
description = "schakel connector for {organisation}: {name}"
requires-python = ">=3.11"
dependencies = ["schakel"]

[project.entry-points."schakel.connectors"]
{name} = "{module}:CONNECTOR"

[tool.setuptools]
packages = ["{module}"]
"""

_MODULE = '''"""The {name} connector for {organisation}: records from the partner system become catalogue events.

Fill in the partner's record types and field names in MAPPING (partner word -> catalogue field); the contract tests
in tests/ prove the connector still honours the contract.
"""

from __future__ import annotations

from schakel.connectors.mapping import PARTNER_REQUESTS, REQUEST_VALUES, URGENCY, RecordMapping, TypeMapping
from schakel.connectors.partners import FileDropPartnerConfig, filedrop_connector
from schakel.schemas import EventType, Organisation

__all__ = ["CONNECTOR", "MAPPING", "Config"]

MAPPING = RecordMapping(
    organisation=Organisation("{organisation}"),
    type_field="soort",
    reference_field="kenmerk",
    types={{
        "signaal": TypeMapping(
            EventType.SIGNAL,
            {{"omschrijving": "description", "urgentie": "urgency"}},
            example={{"thema": "overig", "omschrijving": "Zorgen over de situatie thuis.", "urgentie": "normaal"}},
        ),
        # The data subject's requests the ZVH forwards (``verzoek``, outbound) and this partner's confirmation that
        # it acted on one (``verzoek_uitgevoerd``): every partner connector carries them.
        **PARTNER_REQUESTS,
    }},
    values={{**REQUEST_VALUES, "urgentie": URGENCY}},
)


class Config(FileDropPartnerConfig):
    """The {name} connector's settings: the partner's inbound and outbound directories."""


CONNECTOR = filedrop_connector(MAPPING, Config, "{name} - bestandsmap (scaffold)", name="{name}")
'''

_TEST = '''"""{name} honours the connector contract (needs a Kafka broker at SCHAKEL_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

from schakel.connectors.testing import ConnectorContract

from {module} import CONNECTOR


class TestContract(ConnectorContract):
    connector = CONNECTOR
'''

_README = """# schakel-connector-{name}

A schakel connector for `{organisation}`.

```sh
pip install -e .
pytest tests                      # the contract test kit, against the broker at SCHAKEL_KAFKA_BOOTSTRAP
schakel connectors list           # shows {name}
schakel connectors run {name} --simulate
```
"""


def scaffold(name: str, directory: Path, *, organisation: str) -> Path:
    """Create ``<directory>/schakel-connector-<name>``; return its path."""
    if not _NAME.match(name):
        raise ConnectorError("a connector name is lowercase letters, digits and hyphens, starting with a letter")
    try:
        Organisation(organisation)
    except ValueError:
        known = ", ".join(o.value for o in Organisation)
        raise ConnectorError(f"--organisation must be one of the catalogue's organisations: {known}") from None
    root = directory / f"schakel-connector-{name}"
    if root.exists():
        raise ConnectorError(f"{root} exists already")
    module = "schakel_connector_" + name.replace("-", "_")
    values = {"name": name, "organisation": organisation, "module": module}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / module / "__init__.py": _MODULE,
        root / "tests" / "__init__.py": "",
        root / "tests" / "test_contract.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
