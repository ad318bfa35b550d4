"""The eight shipped partner connectors, one module each, registered in the ``schakel.connectors`` entry-point group.

| organisation | transport | partner system (simulated in tests and the demo) |
|---|---|---|
| ``gemeente-sociaal`` | database outbox | social-domain case system |
| ``gemeente-veiligheid`` | HTTP | safety-domain case system |
| ``politie`` | HTTP | police registrations (BVH-like) |
| ``om`` | file drop (CSV) | prosecution export |
| ``reclassering`` | database outbox | probation case database |
| ``rvdk`` | file drop (JSON) | child protection |
| ``ggz`` | HTTP | care provider's EPD |
| ``zvh`` | database outbox | ZVH case system (GCOS-like) |
"""

from schakel.connectors.partners._kinds import (
    DatabasePartnerConfig,
    FileDropPartnerConfig,
    HttpPartnerConfig,
    PartnerConfig,
    database_connector,
    filedrop_connector,
    http_connector,
)

__all__ = [
    "DatabasePartnerConfig",
    "FileDropPartnerConfig",
    "HttpPartnerConfig",
    "PartnerConfig",
    "database_connector",
    "filedrop_connector",
    "http_connector",
]
