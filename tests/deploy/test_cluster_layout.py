"""The local cluster's shape without starting it: ports, paths, quorum, replication, and the node certificates."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from schakel.deploy.kafka.broker import BrokerError, LocalBroker
from schakel.deploy.kafka.cluster import layout, quorum_voters, replication_for
from schakel.deploy.kafka.tls import ensure_tls
from schakel.settings import Settings


def test_three_nodes_take_two_ports_each_from_the_bootstrap_port(tmp_path: Path) -> None:
    nodes = layout(tmp_path, "127.0.0.1", 9092, 3)
    assert [(node.node_id, node.port, node.controller_port) for node in nodes] == [
        (1, 9092, 9093),
        (2, 9094, 9095),
        (3, 9096, 9097),
    ]
    assert len({node.home for node in nodes}) == 3
    assert all(node.home.parent == tmp_path / "cluster" for node in nodes)
    assert quorum_voters(nodes) == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"


def test_the_single_node_keeps_its_place(tmp_path: Path) -> None:
    (node,) = layout(tmp_path, "127.0.0.1", 9092, 1)
    assert (node.port, node.controller_port, node.home, node.name) == (9092, 9093, tmp_path, "broker")


def test_only_one_or_three_nodes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 or 3 nodes, not 2"):
        layout(tmp_path, "127.0.0.1", 9092, 2)
    with pytest.raises(BrokerError, match="not 2"):
        LocalBroker(Settings(kafka_bootstrap="127.0.0.1:9092", data_dir=tmp_path), nodes=2)


def test_three_copies_two_in_sync_on_three_nodes_one_on_one() -> None:
    assert (replication_for(3).factor, replication_for(3).min_insync) == (3, 2)
    assert (replication_for(1).factor, replication_for(1).min_insync) == (1, 1)


def test_a_cluster_knows_every_node_for_bootstrap(tmp_path: Path) -> None:
    broker = LocalBroker(Settings(kafka_bootstrap="127.0.0.1:9092", data_dir=tmp_path), nodes=3)
    assert broker.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert broker.client_settings("SASL_SSL").kafka_bootstrap == broker.bootstrap
    assert LocalBroker(Settings(kafka_bootstrap="127.0.0.1:9092", data_dir=tmp_path)).bootstrap == "127.0.0.1:9092"


def test_each_node_has_its_own_certificate_from_the_one_ca(tmp_path: Path) -> None:
    first, second = ensure_tls(tmp_path, "127.0.0.1", "node-1"), ensure_tls(tmp_path, "127.0.0.1", "node-2")
    assert first.ca == second.ca
    ca = x509.load_pem_x509_certificate(first.ca.read_bytes())
    certificates = [x509.load_pem_x509_certificate(tls.keystore.read_bytes()) for tls in (first, second)]
    assert certificates[0].serial_number != certificates[1].serial_number
    for certificate in certificates:
        certificate.verify_directly_issued_by(ca)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert ensure_tls(tmp_path, "127.0.0.1", "node-1").keystore.read_bytes() == first.keystore.read_bytes()
