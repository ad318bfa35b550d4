"""schakel: an event-driven integration hub for the Dutch Zorg & Veiligheid network.

The subpackages are the architecture:

- ``schakel.schemas``    the event catalogue (Avro) and its codec - pure, no Kafka
- ``schakel.consent``    covenants and the fail-closed decision engine - pure, no Kafka
- ``schakel.streams``    the hub: Faust agents that decode, decide and deliver
- ``schakel.connectors`` the contract partner systems plug into, and its runtime
- ``schakel.lineage``    the tamper-evident record of every decision, and answers for compliance
- ``schakel.deploy``     the local Apache Kafka broker and the production shapes
"""

from schakel.errors import SchakelError

__all__ = ["SchakelError", "__version__"]

__version__ = "0.1.0"
