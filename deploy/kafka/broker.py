"""The lifecycle of the local broker: fetch the jars, format storage once, start, wait, stop.

The broker is the pinned Apache Kafka release from ``pom.xml``, fetched with Maven into the cache directory and run
as a single-node KRaft broker (combined broker and controller) bound to loopback - or, with ``nodes=3``
(``schakel kafka up --nodes 3``), as a cluster of three such nodes with a three-voter quorum (ports, paths and
replication: :mod:`.cluster`). The single node's data, logs and pid file live under ``<data_dir>/kafka``, a cluster
node's under ``<data_dir>/kafka/cluster/node-<i>``. The controller listens on the broker's port + 1.

Secured by default (``--insecure`` keeps a PLAINTEXT broker): clients speak SASL SCRAM-SHA-512 over TLS, the
``StandardAuthorizer`` denies what no ACL allows, ``admin`` is the operators' super user. ``up`` makes, once and
under ``<data_dir>/kafka``: the TLS material (``tls/``, see :mod:`.tls`), a random password per principal
(``credentials/<principal>``, mode 0600, the directory a client's settings read by default), the broker's own
passwords (``broker/``), and ``client.json`` (how clients reach it: protocol and mechanism, no secret). The
directory itself is mode 0700 and the broker runs with umask 077: its data (every topic's records, the metadata log
with the SCRAM verifiers) and logs are files no ACL guards from another local user.

SCRAM users live in the metadata log, and the broker itself authenticates with SCRAM, so they must exist before the
first secured start. Judgement call: rather than a second way in (``format --add-scram``) for fresh storage, the
first secured ``up`` starts the broker once without security, registers every user through the admin API, stops it
and marks ``broker/registered``; the same path upgrades storage formatted by an older, insecure installation without
losing its topics. After every secured start ``up`` adds users for new principals and the ACLs of the configured
topic prefix (both idempotent).

Every bad situation is a :class:`BrokerError` with a message a person can act on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from schakel.deploy.kafka.cluster import Node, Replication, layout, quorum_voters, replication_for
from schakel.deploy.kafka.tls import create_private, ensure_tls, write_private
from schakel.errors import SchakelError
from schakel.settings import KafkaIdentityError, SecurityProtocol, Settings

__all__ = ["BrokerError", "BrokerStatus", "LocalBroker", "NodeStatus", "kafka_version"]

MINIMUM_JAVA = 17
_PRIVATE_UMASK = 0o077
"""The broker's umask: what it writes (segments, checkpoints, logs) is its owner's only."""
_LOG_TAIL_LINES = 25


class BrokerError(SchakelError):
    """The local broker could not be fetched, started, reached or stopped."""


@dataclass(frozen=True)
class NodeStatus:
    """One node of the local broker, as ``schakel kafka status`` lists it."""

    node_id: int
    address: str
    answering: bool
    pid: int | None


@dataclass(frozen=True)
class BrokerStatus:
    """What ``schakel kafka status`` reports."""

    bootstrap: str
    answering: bool
    pid: int | None
    """The pid of the broker this installation started, if it is running."""
    stale_pid_file: bool = False
    nodes: tuple[NodeStatus, ...] = ()
    """Every node of the local broker (one, or a cluster's three)."""

    @property
    def managed(self) -> bool:
        """True when the broker answering is the one this installation started."""
        return self.pid is not None


def _resource(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def kafka_version() -> str:
    """The Apache Kafka version pinned in ``pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", _resource("pom.xml"))
    if match is None:  # pragma: no cover - the shipped pom always has it
        raise BrokerError("deploy/kafka/pom.xml does not pin <kafka.version>")
    return match.group(1)


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")
"""A host name or address as it may stand in ``listeners=`` (nothing that could end the line or the value)."""


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isdigit():
        raise BrokerError(f"bootstrap address {first!r} is not host:port")
    return host, int(port)


def _property(value: object, what: str) -> str:
    """``value`` as it is written into server.properties, refused when it could change the file's meaning: a line
    break would start a property of its own (``super.users=...``), a backslash escapes, a quote ends a JAAS value."""
    text = str(value)
    if not text.isprintable() or any(char in text for char in '\\"'):
        raise BrokerError(f"{what} {text!r} cannot go into the broker's configuration (a control character, \\ or \")")
    return text


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        return probe.connect_ex((host, port)) == 0


def _speaks_kafka(host: str, port: int, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> bool:
    """True when whatever listens at host:port answers a Kafka ApiVersions request (v0) in kind (over TLS with
    ``context``; a SASL listener answers ApiVersions before authentication)."""
    client_id = b"schakel-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            connection = context.wrap_socket(raw, server_hostname=host) if context is not None else raw
            with connection:
                connection.sendall(struct.pack(">i", len(body)) + body)
                header = connection.recv(8)
    except OSError:
        return False
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 7


def _answers_metadata(config: dict[str, object], timeout: float = 3.0) -> bool:
    """True when a Kafka broker reached with this client config answers a metadata request."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, port = _host_port(str(config["bootstrap_servers"]))
    context = config.get("ssl_context")
    if not _speaks_kafka(host, port, timeout, context if isinstance(context, ssl.SSLContext) else None):
        return False
    try:
        admin = KafkaAdminClient(**config, request_timeout_ms=int(timeout * 1000), client_id="schakel-probe")
    except (KafkaError, OSError):
        return False
    try:
        admin.list_topics()
    except (KafkaError, OSError):
        return False
    else:
        return True
    finally:
        admin.close()


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log written)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(log is empty)"


class LocalBroker:
    """The local broker behind ``schakel kafka up|status|down``: one node, or a cluster of three (``nodes=3``).

    ``nodes`` None means the layout that runs from this data directory (a cluster when one of its nodes has a pid
    file), else one node. ``java`` and ``mvn`` name the executables to use; they default to the ones on ``PATH``
    (``JAVA_HOME`` wins for java when set). ``insecure`` runs a PLAINTEXT broker without authorisation.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        insecure: bool = False,
        java: str | None = None,
        mvn: str | None = None,
        nodes: int | None = None,
    ) -> None:
        self.settings = settings
        self.host, self.port = _host_port(settings.kafka_bootstrap)
        self.controller_port = self.port + 1
        self.version = kafka_version()
        self.home = settings.kafka_dir
        self.lib_dir = settings.cache_dir / f"kafka-{self.version}" / "lib"
        self.tls_dir = self.home / "tls"
        self.credentials_dir = self.home / "credentials"
        self.secrets_dir = self.home / "broker"
        self.client_file = self.home / "client.json"
        self.insecure = insecure
        self._java = java
        self._mvn = mvn
        try:
            self.nodes = layout(self.home, self.host, self.port, nodes or self._running_size())
        except ValueError as error:
            raise BrokerError(str(error)) from None

    def _running_size(self) -> int:
        """3 when a node of the local cluster has a pid file, else 1."""
        cluster = layout(self.home, self.host, self.port, 3)
        return 3 if any(node.pid_file.exists() for node in cluster) else 1

    @property
    def clustered(self) -> bool:
        return len(self.nodes) > 1

    @property
    def pid_file(self) -> Path:
        """The first node's pid file (the single node's)."""
        return self.nodes[0].pid_file

    @property
    def bootstrap(self) -> str:
        """Every node's client address: a client that knows them all survives the loss of any one."""
        return ",".join(node.address for node in self.nodes)

    @property
    def replication(self) -> Replication:
        return replication_for(len(self.nodes))

    # -- security ------------------------------------------------------------------------------------------------

    def recorded_protocol(self) -> SecurityProtocol:
        """How the broker was last started (``client.json``); PLAINTEXT when it never recorded anything."""
        try:
            recorded = json.loads(self.client_file.read_text(encoding="utf-8")).get("security_protocol")
        except (OSError, ValueError, AttributeError):
            return "PLAINTEXT"
        return "SASL_SSL" if recorded == "SASL_SSL" else "PLAINTEXT"

    def client_settings(self, protocol: SecurityProtocol | None = None, node: Node | None = None) -> Settings:
        """Settings that reach this broker (or only ``node``) with its own CA and credentials (whatever the
        environment says)."""
        return self.settings.model_copy(
            update={
                "kafka_bootstrap": node.address if node is not None else self.bootstrap,
                "kafka_security_protocol": protocol or self.recorded_protocol(),
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_sasl_username": None,
                "kafka_sasl_password": None,
                "kafka_credentials_dir": self.credentials_dir,
                "kafka_ssl_cafile": self.tls_dir / "ca.pem",
            }
        )

    def _probe(self, protocol: SecurityProtocol | None = None, timeout: float = 3.0, node: Node | None = None) -> bool:
        """True when the node (default: the first) answers a metadata request as admin."""
        from schakel.streams.topics import ADMIN

        try:
            config = self.client_settings(protocol, node or self.nodes[0]).kafka_client_config(ADMIN)
        except KafkaIdentityError:  # no CA or credentials (yet): nothing of ours can be answering securely
            return False
        return _answers_metadata(config, timeout)

    def _password(self, path: Path) -> str:
        """The password in ``path``, made (random, mode 0600) when missing. Two ``up`` at once make one: the first
        file created stays, and both read it (each writing its own would leave one process registering a password
        the file no longer holds)."""
        if not path.exists():
            create_private(path, secrets.token_urlsafe(32).encode())
        return path.read_text(encoding="utf-8").strip()

    def _passwords(self) -> dict[str, str]:
        """Every principal's password (made when missing), the broker's own SCRAM identity included."""
        from schakel.streams.topics import principals

        passwords = {name: self._password(self.credentials_dir / name) for name in principals()}
        passwords["broker"] = self._password(self.secrets_dir / "broker-scram")
        return passwords

    def _record_client(self, protocol: SecurityProtocol) -> None:
        recorded: dict[str, str] = {"security_protocol": protocol}
        if protocol == "SASL_SSL":
            recorded["sasl_mechanism"] = "SCRAM-SHA-512"
        self.client_file.write_text(json.dumps(recorded) + "\n", encoding="utf-8")

    # -- prerequisites -------------------------------------------------------------------------------------------

    def java(self) -> str:
        """The java executable, checked to be Java 17 or newer."""
        java = self._java
        if java is None:
            java_home = os.environ.get("JAVA_HOME")
            java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if java is None or not Path(java).exists():
            raise BrokerError(
                f"Java is missing: Apache Kafka {self.version} needs Java {MINIMUM_JAVA} or newer "
                "(install a JDK, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
            )
        try:
            probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
        except OSError as error:
            raise BrokerError(f"Java at {java} does not run: {error}") from error
        match = re.search(r'version "(\d+)(?:\.(\d+))?', probe.stderr + probe.stdout)
        if match is None:
            raise BrokerError(f"could not tell the version of Java at {java}")
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0" style
            major = int(match.group(2))
        if major < MINIMUM_JAVA:
            raise BrokerError(
                f"Java {major} at {java} is too old: Apache Kafka {self.version} needs Java {MINIMUM_JAVA} or newer"
            )
        return java

    def ensure_jars(self) -> Path:
        """Fetch the pinned broker and its dependencies from Maven Central once; return the lib directory."""
        complete = self.lib_dir / ".complete"
        if complete.exists():
            return self.lib_dir
        mvn = self._mvn or shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                f"Apache Kafka {self.version} is not in the cache ({self.lib_dir}) and Maven is missing to fetch it "
                "(install Maven, e.g. `apt-get install maven`)"
            )
        staging = self.lib_dir.with_name("lib.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        pom = staging.parent / "pom.xml"
        pom.write_text(_resource("pom.xml"), encoding="utf-8")
        command = [
            mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]  # fmt: skip
        try:
            fetched = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise BrokerError(f"could not run Maven to fetch Apache Kafka {self.version}: {error}") from error
        if fetched.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            said = "\n".join((fetched.stdout + fetched.stderr).strip().splitlines()[-10:])
            raise BrokerError(
                f"Maven could not fetch Apache Kafka {self.version} from Maven Central and there is no cache at "
                f"{self.lib_dir}. Is Maven Central reachable? Maven said:\n{said}"
            )
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)
        complete.touch()
        return self.lib_dir

    # -- state ---------------------------------------------------------------------------------------------------

    def _recorded_pid(self, node: Node) -> tuple[int | None, bool]:
        """The pid in the node's pid file if that process is that node; and whether a stale pid file was found."""
        try:
            pid = int(node.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None, node.pid_file.exists()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None, True
        if "kafka.Kafka" in cmdline and str(node.properties) in cmdline:
            return pid, False
        return None, True

    def node_pid(self, node_id: int) -> int | None:
        """The pid of node ``node_id`` when it runs (tests use it to kill one node)."""
        return self._recorded_pid(self._node(node_id))[0]

    def _node(self, node_id: int) -> Node:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise BrokerError(f"the local broker has no node {node_id}")

    def status(self) -> BrokerStatus:
        nodes = []
        stale = False
        for node in self.nodes:
            pid, node_stale = self._recorded_pid(node)
            stale = stale or node_stale
            nodes.append(NodeStatus(node.node_id, node.address, self._probe(node=node), pid))
        pids = [node.pid for node in nodes if node.pid is not None]
        return BrokerStatus(
            bootstrap=self.bootstrap,
            answering=any(node.answering for node in nodes),
            pid=pids[0] if pids else None,
            stale_pid_file=stale,
            nodes=tuple(nodes),
        )

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def _java_command(self, java: str, node: Node, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            java, f"-Xmx{heap}", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.log_dir}",
            "-cp", f"{self.lib_dir}/*", main, *args,
        ]  # fmt: skip

    def _write_config(self, node: Node, *, secured: bool) -> Path:
        """Write the node's server.properties (mode 0600: a secured one holds the broker's passwords)."""
        node.log_dir.mkdir(parents=True, exist_ok=True)
        replication = self.replication
        quorum = (
            f"controller.quorum.voters={quorum_voters(self.nodes)}"
            if self.clustered
            else f"controller.quorum.bootstrap.servers={node.host}:{node.controller_port}"
        )
        text = _resource("server.properties").format(
            node_id=node.node_id,
            quorum=quorum,
            host=node.host,
            port=node.port,
            controller_port=node.controller_port,
            log_dirs=_property(node.data_dir, "the data directory"),
            listener="SASL_SSL" if secured else "PLAINTEXT",
            controller_protocol="SASL_PLAINTEXT" if secured else "PLAINTEXT",
            replication=replication.factor,
            min_insync=replication.min_insync,
        )
        if secured:
            tls = ensure_tls(self.tls_dir, node.host, node.name)
            text += _resource("secured.properties").format(
                broker_password=_property(self._passwords()["broker"], "the broker's password"),
                controller_password=_property(
                    self._password(self.secrets_dir / "controller-plain"), "the controller's password"
                ),
                keystore=_property(tls.keystore, "the key store"),
                truststore=_property(tls.ca, "the trust store"),
            )
        write_private(node.properties, text.encode())
        (node.home / "log4j2.properties").write_text(_resource("log4j2.properties"), encoding="utf-8")
        return node.properties

    def _cluster_id(self) -> str:
        """The storage's cluster id: a new one for a single node; one per cluster, kept beside its nodes."""
        # One in 64 of these ids starts with "-": passed as "--cluster-id=ID" so it is never read as an option.
        if not self.clustered:
            return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        kept = self.home / "cluster" / "cluster-id"
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="), encoding="utf-8")
        return kept.read_text(encoding="utf-8").strip()

    def _format_once(self, java: str, node: Node) -> None:
        if (node.data_dir / "meta.properties").exists():
            return
        # A single node bootstraps its own dynamic quorum (--standalone); a cluster's static voters need no flag.
        standalone = () if self.clustered else ("--standalone",)
        command = self._java_command(
            java, node, "kafka.tools.StorageTool", "format", f"--cluster-id={self._cluster_id()}",
            "-c", str(node.properties), *standalone,
        )  # fmt: skip
        formatted = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, umask=_PRIVATE_UMASK
        )
        if formatted.returncode != 0:
            raise BrokerError(f"formatting the storage of {node.name} failed:\n{formatted.stdout}{formatted.stderr}")

    def _refuse_other_layout(self) -> None:
        """A single node and a cluster share ports and credentials: only one of them runs at a time."""
        other = layout(self.home, self.host, self.port, 1 if self.clustered else 3)
        if any(self._recorded_pid(node)[0] is not None for node in other):
            running = "a cluster of three nodes" if not self.clustered else "a single-node broker"
            raise BrokerError(
                f"{running} runs from this data directory ({self.home}); stop it first (`schakel kafka down`)"
            )

    def up(self, timeout: float = 60.0) -> str:
        """Start the broker's nodes unless they run already; return a sentence saying what happened. On a cluster
        with some nodes running, only the others are started (a node restarted after a crash rejoins)."""
        self._refuse_other_layout()
        self._keep_private()
        recorded = {node.node_id: self._recorded_pid(node) for node in self.nodes}
        missing = [node for node in self.nodes if recorded[node.node_id][0] is None]
        mode = "secured" if self.recorded_protocol() == "SASL_SSL" else "insecure"
        if not missing:
            if all(self._probe(node=node) for node in self.nodes):
                return f"Kafka is already up at {self.bootstrap} ({self._pids()}, {mode})"
            # Ours, but not answering (yet): wait for them rather than starting others.
            return self._wait_ready(timeout)
        if len(missing) == len(self.nodes) and self._probe():
            return f"a Kafka broker not started by schakel already answers at {self.nodes[0].address}; using it"
        for node in missing:
            if recorded[node.node_id][1]:
                node.pid_file.unlink(missing_ok=True)
            for port in (node.port, node.controller_port):
                if _port_open(node.host, port):
                    raise BrokerError(
                        f"port {node.host}:{port} is already taken by something that is not a Kafka broker "
                        "(or by a schakel broker of another mode or installation); "
                        "stop it or point SCHAKEL_KAFKA_BOOTSTRAP at another port"
                    )
        java = self.java()
        self.ensure_jars()
        if self.insecure:
            for node in self.nodes:
                self._write_config(node, secured=False)
                self._format_once(java, node)
            self._record_client("PLAINTEXT")
            return self._start(java, missing, timeout)
        if not self._registered.exists():
            self._register_users(java, timeout)
            self._registered.touch()
        for node in self.nodes:
            self._write_config(node, secured=True)
            self._format_once(java, node)
        self._record_client("SASL_SSL")
        said = self._start(java, missing, timeout)
        self._provision()
        return f"{said}, secured (SASL_SSL, SCRAM-SHA-512, ACLs)"

    def _keep_private(self) -> None:
        """Make ``<data_dir>/kafka`` its owner's only (0700), also when an older installation made it 0755: beneath
        it are every topic's records (the partners' ingress events, the hub's tables), the metadata log (SCRAM
        verifiers) and the broker's logs, which no ACL guards from another local user reading the files."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home.chmod(0o700)

    @property
    def _registered(self) -> Path:
        """Marks storage whose metadata log holds every user (the single node's, or the cluster's)."""
        return self.home / "cluster" / "registered" if self.clustered else self.secrets_dir / "registered"

    def _register_users(self, java: str, timeout: float) -> None:
        """Start once without security, give every principal (and the broker) its SCRAM password, stop."""
        from schakel.streams.access import ensure_users

        for node in self.nodes:
            self._write_config(node, secured=False)
            self._format_once(java, node)
        self._record_client("PLAINTEXT")
        try:
            self._start(java, self.nodes, timeout)
            ensure_users(self.client_settings("PLAINTEXT"), self._passwords().items())
        finally:
            for node in self.nodes:
                pid, _ = self._recorded_pid(node)
                if pid is not None:
                    _stop(pid, grace=30.0)
                node.pid_file.unlink(missing_ok=True)
            self.client_file.unlink(missing_ok=True)

    def _provision(self) -> None:
        """Users for principals added since the last start, and the ACLs of the configured prefix."""
        from schakel.streams.access import AccessError, apply_grants, ensure_users

        admin = self.client_settings("SASL_SSL")
        try:
            ensure_users(admin, self._passwords().items())
            apply_grants(admin)
        except AccessError as error:
            raise BrokerError(f"the broker started but could not be provisioned: {error}") from error

    def _start(self, java: str, nodes: list[Node], timeout: float) -> str:
        started: dict[int, int] = {}
        for node in nodes:
            with (node.log_dir / "stdout.log").open("ab") as out:
                process = subprocess.Popen(
                    self._java_command(java, node, "kafka.Kafka", str(node.properties), heap="512m"),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    umask=_PRIVATE_UMASK,
                )
            node.pid_file.write_text(str(process.pid))
            started[node.node_id] = process.pid
        return self._wait_ready(timeout, started)

    def _pids(self) -> str:
        pids = [str(self._recorded_pid(node)[0]) for node in self.nodes]
        return f"pid {pids[0]}" if len(pids) == 1 else f"{len(pids)} nodes, pids {', '.join(pids)}"

    def _wait_ready(self, timeout: float, started: dict[int, int] | None = None) -> str:
        """Wait until every node answers; a node that exits or never answers stops them all. ``started``: the pids
        of the nodes just started (their command line may not yet be Java's, so the pid file cannot vouch for them)."""
        pids = {node.node_id: self._recorded_pid(node)[0] for node in self.nodes} | (started or {})
        deadline = time.monotonic() + timeout
        waiting = list(self.nodes)
        while time.monotonic() < deadline:
            for node in list(waiting):
                pid = pids[node.node_id]
                if pid is None or not _alive(pid):
                    self._abandon(pids)
                    raise BrokerError(
                        f"{node.name} exited during start-up; last lines of its log:\n{self._log_tails(node)}"
                    )
                if self._probe(timeout=1.0, node=node):
                    waiting.remove(node)
            if not waiting:
                return f"Kafka {self.version} is up at {self.bootstrap} ({self._pids()})"
            time.sleep(0.25)
        tails = "\n".join(self._log_tails(node) for node in waiting)
        self._abandon(pids)
        names = ", ".join(node.name for node in waiting)
        raise BrokerError(
            f"the broker ({names}) did not answer at {self.bootstrap} within {timeout:.0f} s and was stopped; "
            f"last lines of its log:\n{tails}"
        )

    def _abandon(self, pids: dict[int, int | None]) -> None:
        """Stop the nodes of a start that failed, and forget them."""
        for pid in pids.values():
            if pid is not None and _alive(pid):
                _stop(pid, grace=5.0)
        for node in self.nodes:
            node.pid_file.unlink(missing_ok=True)

    def _log_tails(self, node: Node) -> str:
        paths = (node.log_dir / "server.log", node.log_dir / "stdout.log")
        return "\n".join(f"--- {path}\n{_tail(path)}" for path in paths if path.exists()) or "(no log written)"

    def _stop_all(self, grace: float) -> list[tuple[int, bool]]:
        """Stop every node this installation started (of either layout), all at once: a cluster's nodes stopped one
        by one would leave the last without a quorum to shut down cleanly. The pids and whether each was killed."""
        running = []
        for node in [*layout(self.home, self.host, self.port, 1), *layout(self.home, self.host, self.port, 3)]:
            pid, _ = self._recorded_pid(node)
            if pid is not None:
                running.append(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            node.pid_file.unlink(missing_ok=True)
        deadline = time.monotonic() + grace
        return [(pid, _stop(pid, grace=max(deadline - time.monotonic(), 0.0))) for pid in running]

    def down(self, timeout: float = 30.0) -> str:
        """Stop every node this installation started; return a sentence saying what happened."""
        stale = any(self._recorded_pid(node)[1] for node in self.nodes)
        stopped = self._stop_all(grace=timeout)
        if not stopped:
            return "Kafka was not running (removed a stale pid file)" if stale else "Kafka was not running"
        forced = any(killed for _, killed in stopped)
        pids = ", ".join(str(pid) for pid, _ in stopped)
        label = f"pid {pids}" if len(stopped) == 1 else f"{len(stopped)} nodes, pids {pids}"
        return f"Kafka stopped ({label}{', killed after the grace period' if forced else ''})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return True
    # A zombie child of ours is not alive for our purposes.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _stop(pid: int, grace: float) -> bool:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; True when it had to be killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    return True
