"""The network's covenants as data: one YAML file per covenant (format: :mod:`schakel.consent.loading`)."""

__all__: list[str] = []
