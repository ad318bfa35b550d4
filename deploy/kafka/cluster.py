"""The shape of the local broker: one node, or three KRaft nodes on loopback. Pure: names, ports, paths, numbers.

Every node is a combined broker and controller. One node is the installation's single broker: its client port is
``PORT`` (the bootstrap address's), its controller ``PORT + 1``, and it lives directly under ``<data_dir>/kafka`` as
it always did. A cluster of ``n`` nodes (``schakel kafka up --nodes 3``) lives under ``<data_dir>/kafka/cluster``:
node ``i`` (1-based) listens for clients on ``PORT + 2(i-1)`` and for controllers on ``PORT + 2(i-1) + 1``, so node 1
keeps the single node's two ports and a cluster of three uses ``PORT .. PORT + 5``. The two layouts never share
storage (a one-voter quorum cannot grow into a three-voter one by configuration); they share the CA, the principals'
credentials and the broker's own passwords.

Judgement calls:

- *A static three-voter quorum* (``controller.quorum.voters``): the voters are known before the first start, and a
  static quorum needs no ``add-controller`` step after it. A single node keeps its dynamic standalone quorum.
- *Replication from the cluster's size*, written into every node's configuration (``default.replication.factor``,
  ``min.insync.replicas`` and the internal topics'): three or more nodes replicate three times and need two in-sync
  replicas to accept a write, so one node may fail without losing an acknowledged record or stopping the writers;
  fewer nodes cannot do either and replicate to every node with one in sync. The hub's topics take these defaults
  from the broker (``schakel.streams.topics.create_topics``), so the numbers live here and in nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLUSTER_SIZES", "Node", "Replication", "layout", "quorum_voters", "replication_for"]

CLUSTER_SIZES = (1, 3)
"""The sizes ``schakel kafka up --nodes`` offers: one node, or the smallest cluster that survives a node's loss."""


@dataclass(frozen=True)
class Replication:
    """How often a partition is stored, and how many copies must be in sync to accept a write."""

    factor: int
    min_insync: int


def replication_for(nodes: int) -> Replication:
    """Three copies, two in sync, on three or more nodes; one copy per node otherwise."""
    if nodes >= 3:
        return Replication(factor=3, min_insync=2)
    return Replication(factor=nodes, min_insync=1)


@dataclass(frozen=True)
class Node:
    """One KRaft node (broker and controller) of the local installation."""

    node_id: int
    host: str
    port: int
    controller_port: int
    home: Path
    """Where its storage, configuration, logs and pid file live."""
    name: str = "broker"
    """Its name in messages and of its TLS key and certificate (``tls/<name>.pem``); the single node's is ``broker``."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def properties(self) -> Path:
        return self.home / "server.properties"


def layout(home: Path, host: str, port: int, nodes: int) -> list[Node]:
    """The nodes of a local installation of ``nodes`` nodes whose first client port is ``port``."""
    if nodes not in CLUSTER_SIZES:
        sizes = " or ".join(str(size) for size in CLUSTER_SIZES)
        raise ValueError(f"a local broker has {sizes} nodes, not {nodes}")
    if nodes == 1:
        return [Node(1, host, port, port + 1, home)]
    return [
        Node(
            index + 1,
            host,
            port + 2 * index,
            port + 2 * index + 1,
            home / "cluster" / f"node-{index + 1}",
            f"node-{index + 1}",
        )
        for index in range(nodes)
    ]


def quorum_voters(nodes: list[Node]) -> str:
    """``controller.quorum.voters``: ``id@host:controller_port`` of every node."""
    return ",".join(f"{node.node_id}@{node.host}:{node.controller_port}" for node in nodes)
