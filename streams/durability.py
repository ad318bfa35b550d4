"""What makes the hub's writes survive the loss of a broker: an idempotent producer that waits for every in-sync
replica.

Every producer schakel builds acknowledges with ``acks=all``, and is idempotent: kafka-python 3's ``KafkaProducer``
by default (``schakel send``, the tests), the connectors' aiokafka producer explicitly (``connectors/_kafka.py``) -
and the hub's, Faust's aiokafka producer, here. Faust turns idempotence on only inside its ``exactly_once``
transactions, which schakel does not use (see ``schakel.streams.hub``); at-least-once without it lets a retry after a
leader change - a send the old leader stored but could not acknowledge - write a record twice, or, with several
requests in flight, out of order. The idempotent producer makes the broker drop such a retry and keep the order.

With ``acks=all`` and the cluster's ``min.insync.replicas`` (two of three on the local cluster, see
``schakel.deploy.kafka.cluster``), a record the broker confirmed is on two brokers, so a broker lost after the
confirmation loses nothing; with one of three down, writes go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from schakel.streams.commits import ChangelogWrites, CommitGuard

__all__ = ["use_idempotent_producer"]


class _IdempotentProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with idempotence on and every in-sync replica's acknowledgement, whose buffer of
    table changelog records remembers them until they are stored (``schakel.streams.commits``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        buffer = ChangelogWrites(loop=self.loop, beacon=self.beacon)
        buffer.app = self.app
        self.buffer = buffer

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class _Transport(faust_aiokafka.Transport):
    Producer: ClassVar[type[faust_aiokafka.Producer]] = _IdempotentProducer
    Consumer: ClassVar[type[faust_aiokafka.Consumer]] = CommitGuard  # commits only what the hub settled


def use_idempotent_producer(app: faust.App) -> None:
    """Give ``app`` a transport whose producer is idempotent (before the app starts), and whose consumer commits
    only what the hub settled (``schakel.streams.commits``)."""
    app.transport = _Transport(app.conf.broker_consumer, app)
