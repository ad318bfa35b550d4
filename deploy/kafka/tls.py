"""The local broker's TLS material: a CA of this installation and a broker certificate it signs.

Made once with the ``cryptography`` package under ``<data_dir>/kafka/tls``: ``ca.pem`` (the CA certificate clients
trust), ``ca-key.pem`` and ``broker.pem`` (the broker's PKCS#8 key followed by its certificate, the form Kafka's
``ssl.keystore.type=PEM`` reads); the nodes of a local cluster have one each (``node-1.pem``, ...). Private keys
are written with mode 0600 and never leave the directory.

Judgement calls: EC P-256 keys (small, fast handshakes, accepted by Java 17); the broker certificate names the
listener's host as an IP address and ``localhost`` so clients verify the host name as usual, rather than turning
verification off; ten years of validity for a development CA that never leaves the machine; a CA whose key stays
beside it, since it signs only this broker's certificate (production brokers get their certificates elsewhere).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BrokerTls", "create_private", "ensure_tls", "write_private"]

_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class BrokerTls:
    """Where the broker's TLS files are."""

    ca: Path
    keystore: Path


def _staged(path: Path, data: bytes) -> Path:
    """``data`` in a new file of its own (0600) beside ``path``: a reader of ``path`` never sees it half-written, and
    two processes writing ``path`` at once never share (and unlink) one temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600), replacing what was there."""
    staged = _staged(path, data)
    try:
        staged.replace(path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (0600) unless ``path`` exists; False when it did. Of processes creating the same
    file at once exactly one succeeds, and every one then reads the same, whole content."""
    staged = _staged(path, data)
    try:
        os.link(staged, path)
    except FileExistsError:
        return False
    finally:
        staged.unlink()
    return True


def _name(common_name: str) -> object:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "schakel"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _ca(directory: Path) -> tuple[Any, Any]:
    """The CA certificate and key under ``directory``, made when missing (every broker certificate made before a new
    CA is made again, since the old CA no longer signs them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return ca_cert, serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    for stale in directory.glob("*.pem"):
        stale.unlink()
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("schakel local CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)  # type: ignore[arg-type]
        .issuer_name(ca_name)  # type: ignore[arg-type]
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    write_private(key_path, ca_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_cert, ca_key


def ensure_tls(directory: Path, host: str, name: str = "broker") -> BrokerTls:
    """The CA and the certificate of the broker ``name`` (``<name>.pem``) for ``host`` under ``directory``, made when
    missing. Each node of a local cluster has its own key and certificate (``node-1``, ...), signed by the one CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_cert, ca_key = _ca(directory)
    tls = BrokerTls(ca=directory / "ca.pem", keystore=directory / f"{name}.pem")
    if tls.keystore.exists():
        return tls
    now = datetime.datetime.now(datetime.UTC)
    broker_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"schakel local {name}"))  # type: ignore[arg-type]
        .issuer_name(ca_cert.subject)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    write_private(
        tls.keystore,
        broker_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
        + broker_cert.public_bytes(serialization.Encoding.PEM),
    )
    return tls
