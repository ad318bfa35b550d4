"""The lifecycle of the local broker: fetch the jars, format storage once, start, wait, stop.

The broker is the pinned Apache Kafka release from ``pom.xml``, fetched with Maven into the cache directory and run
as a single-node KRaft broker (combined broker and controller) bound to loopback. Its data, logs and pid file live
under ``<data_dir>/kafka``. The controller listens on the broker's port + 1.

Secured by default (``--insecure`` keeps a PLAINTEXT broker): clients speak SASL SCRAM-SHA-512 over TLS, the
``StandardAuthorizer`` denies what no ACL allows, ``admin`` is the operators' super user. ``up`` makes, once and
under ``<data_dir>/kafka``: the TLS material (``tls/``, see :mod:`.tls`), a random password per principal
(``credentials/<principal>``, mode 0600, the directory a client's settings read by default), the broker's own
passwords (``broker/``), and ``client.json`` (how clients reach it: protocol and mechanism, no secret).

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

from schakel.deploy.kafka.tls import ensure_tls, write_private
from schakel.errors import SchakelError
from schakel.settings import KafkaIdentityError, SecurityProtocol, Settings

__all__ = ["BrokerError", "BrokerStatus", "LocalBroker", "kafka_version"]

MINIMUM_JAVA = 17
_LOG_TAIL_LINES = 25


class BrokerError(SchakelError):
    """The local broker could not be fetched, started, reached or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``schakel kafka status`` reports."""

    bootstrap: str
    answering: bool
    pid: int | None
    """The pid of the broker this installation started, if it is running."""
    stale_pid_file: bool = False

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


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"bootstrap address {first!r} is not host:port")
    return host, int(port)


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
    """The single-node broker behind ``schakel kafka up|status|down``.

    ``java`` and ``mvn`` name the executables to use; they default to the ones on ``PATH`` (``JAVA_HOME`` wins for
    java when set). ``insecure`` runs a PLAINTEXT broker without authorisation.
    """

    def __init__(
        self, settings: Settings, *, insecure: bool = False, java: str | None = None, mvn: str | None = None
    ) -> None:
        self.settings = settings
        self.host, self.port = _host_port(settings.kafka_bootstrap)
        self.controller_port = self.port + 1
        self.version = kafka_version()
        self.home = settings.kafka_dir
        self.lib_dir = settings.cache_dir / f"kafka-{self.version}" / "lib"
        self.pid_file = self.home / "broker.pid"
        self.log_dir = self.home / "logs"
        self.log_file = self.log_dir / "server.log"
        self.stdout_file = self.log_dir / "stdout.log"
        self.tls_dir = self.home / "tls"
        self.credentials_dir = self.home / "credentials"
        self.secrets_dir = self.home / "broker"
        self.client_file = self.home / "client.json"
        self.insecure = insecure
        self._java = java
        self._mvn = mvn

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    # -- security ------------------------------------------------------------------------------------------------

    def recorded_protocol(self) -> SecurityProtocol:
        """How the broker was last started (``client.json``); PLAINTEXT when it never recorded anything."""
        try:
            recorded = json.loads(self.client_file.read_text(encoding="utf-8")).get("security_protocol")
        except (OSError, ValueError, AttributeError):
            return "PLAINTEXT"
        return "SASL_SSL" if recorded == "SASL_SSL" else "PLAINTEXT"

    def client_settings(self, protocol: SecurityProtocol | None = None) -> Settings:
        """Settings that reach this broker with its own CA and credentials (whatever the environment says)."""
        return self.settings.model_copy(
            update={
                "kafka_bootstrap": self.bootstrap,
                "kafka_security_protocol": protocol or self.recorded_protocol(),
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_sasl_username": None,
                "kafka_sasl_password": None,
                "kafka_credentials_dir": self.credentials_dir,
                "kafka_ssl_cafile": self.tls_dir / "ca.pem",
            }
        )

    def _probe(self, protocol: SecurityProtocol | None = None, timeout: float = 3.0) -> bool:
        from schakel.streams.topics import ADMIN

        try:
            config = self.client_settings(protocol).kafka_client_config(ADMIN)
        except KafkaIdentityError:  # no CA or credentials (yet): nothing of ours can be answering securely
            return False
        return _answers_metadata(config, timeout)

    def _password(self, path: Path) -> str:
        """The password in ``path``, made (random, mode 0600) when missing."""
        if not path.exists():
            write_private(path, secrets.token_urlsafe(32).encode())
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

    def _recorded_pid(self) -> tuple[int | None, bool]:
        """The pid in the pid file if that process is our broker; and whether a stale pid file was found."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None, self.pid_file.exists()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None, True
        if "kafka.Kafka" in cmdline and str(self.home) in cmdline:
            return pid, False
        return None, True

    def status(self) -> BrokerStatus:
        pid, stale = self._recorded_pid()
        return BrokerStatus(
            bootstrap=self.bootstrap,
            answering=self._probe(),
            pid=pid,
            stale_pid_file=stale,
        )

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def _java_command(self, java: str, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            java, f"-Xmx{heap}", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp", f"{self.lib_dir}/*", main, *args,
        ]  # fmt: skip

    def _write_config(self, *, secured: bool) -> Path:
        """Write server.properties (mode 0600: a secured one holds the broker's passwords)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        properties = self.home / "server.properties"
        text = _resource("server.properties").format(
            host=self.host,
            port=self.port,
            controller_port=self.controller_port,
            log_dirs=self.home / "data",
            listener="SASL_SSL" if secured else "PLAINTEXT",
            controller_protocol="SASL_PLAINTEXT" if secured else "PLAINTEXT",
        )
        if secured:
            tls = ensure_tls(self.tls_dir, self.host)
            text += _resource("secured.properties").format(
                broker_password=self._passwords()["broker"],
                controller_password=self._password(self.secrets_dir / "controller-plain"),
                keystore=tls.keystore,
                truststore=tls.ca,
            )
        write_private(properties, text.encode())
        (self.home / "log4j2.properties").write_text(_resource("log4j2.properties"), encoding="utf-8")
        return properties

    def _format_once(self, java: str, properties: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        # One in 64 of these ids starts with "-": passed as "--cluster-id=ID" so it is never read as an option.
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        command = self._java_command(
            java, "kafka.tools.StorageTool", "format", f"--cluster-id={encoded}", "-c", str(properties), "--standalone"
        )
        formatted = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if formatted.returncode != 0:
            raise BrokerError(f"formatting the broker's storage failed:\n{formatted.stdout}{formatted.stderr}")

    def up(self, timeout: float = 60.0) -> str:
        """Start the broker unless one answers already; return a sentence saying what happened."""
        pid, stale = self._recorded_pid()
        if self._probe():
            mode = "secured" if self.recorded_protocol() == "SASL_SSL" else "insecure"
            if pid is not None:
                return f"Kafka is already up at {self.bootstrap} (pid {pid}, {mode})"
            return f"a Kafka broker not started by schakel already answers at {self.bootstrap}; using it"
        if pid is not None:
            # Ours, but not answering (yet): wait for it rather than starting a second one.
            return self._wait_ready(pid, timeout)
        if stale:
            self.pid_file.unlink(missing_ok=True)
        for port in (self.port, self.controller_port):
            if _port_open(self.host, port):
                raise BrokerError(
                    f"port {self.host}:{port} is already taken by something that is not a Kafka broker "
                    "(or by a schakel broker of another mode or installation); "
                    "stop it or point SCHAKEL_KAFKA_BOOTSTRAP at another port"
                )
        java = self.java()
        self.ensure_jars()
        if self.insecure:
            self._format_once(java, self._write_config(secured=False))
            self._record_client("PLAINTEXT")
            return self._start(java, self.home / "server.properties", timeout)
        registered = self.secrets_dir / "registered"
        if not registered.exists():
            self._register_users(java, timeout)
            registered.touch()
        properties = self._write_config(secured=True)
        self._format_once(java, properties)
        self._record_client("SASL_SSL")
        said = self._start(java, properties, timeout)
        self._provision()
        return f"{said}, secured (SASL_SSL, SCRAM-SHA-512, ACLs)"

    def _register_users(self, java: str, timeout: float) -> None:
        """Start once without security, give every principal (and the broker) its SCRAM password, stop."""
        from schakel.streams.access import ensure_users

        properties = self._write_config(secured=False)
        self._format_once(java, properties)
        self._record_client("PLAINTEXT")
        self._start(java, properties, timeout)
        pid, _ = self._recorded_pid()
        try:
            ensure_users(self.client_settings("PLAINTEXT"), self._passwords().items())
        finally:
            if pid is not None:
                _stop(pid, grace=30.0)
            self.pid_file.unlink(missing_ok=True)
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

    def _start(self, java: str, properties: Path, timeout: float) -> str:
        with self.stdout_file.open("ab") as out:
            process = subprocess.Popen(
                self._java_command(java, "kafka.Kafka", str(properties), heap="512m"),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        return self._wait_ready(process.pid, timeout)

    def _wait_ready(self, pid: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited during start-up; last lines of its log:\n{self._log_tails()}")
            if self._probe(timeout=1.0):
                return f"Kafka {self.version} is up at {self.bootstrap} (pid {pid})"
            time.sleep(0.25)
        _stop(pid, grace=5.0)
        self.pid_file.unlink(missing_ok=True)
        raise BrokerError(
            f"the broker did not answer at {self.bootstrap} within {timeout:.0f} s and was stopped; "
            f"last lines of its log:\n{self._log_tails()}"
        )

    def _log_tails(self) -> str:
        return (
            "\n".join(f"--- {path}\n{_tail(path)}" for path in (self.log_file, self.stdout_file) if path.exists())
            or "(no log written)"
        )

    def down(self, timeout: float = 30.0) -> str:
        """Stop the broker this installation started; return a sentence saying what happened."""
        pid, stale = self._recorded_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            if stale:
                return "Kafka was not running (removed a stale pid file)"
            return "Kafka was not running"
        forced = _stop(pid, grace=timeout)
        self.pid_file.unlink(missing_ok=True)
        return f"Kafka stopped (pid {pid}{', killed after the grace period' if forced else ''})"


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
