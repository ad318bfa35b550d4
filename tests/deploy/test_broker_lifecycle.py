"""The local broker's lifecycle: the error paths with stand-ins for java and mvn, and one real up/status/down."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from schakel.deploy.kafka.broker import BrokerError, LocalBroker, kafka_version
from schakel.settings import Settings


def _free_port_pair() -> int:
    """A port P such that P and P + 1 are both free on loopback."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port < 65000:
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no free pair of ports")


def _script(path: Path, body: str) -> str:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _settings(tmp_path: Path, port: int, cache: Path | None = None) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        data_dir=tmp_path / "data",
        cache_dir=cache if cache is not None else tmp_path / "cache",
    )


def _with_cached_jars(settings: Settings) -> None:
    lib = settings.cache_dir / f"kafka-{kafka_version()}" / "lib"
    lib.mkdir(parents=True)
    (lib / ".complete").touch()


def test_the_pinned_version_is_a_4x_release() -> None:
    assert kafka_version().startswith("4.")


def test_java_missing(tmp_path: Path) -> None:
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()), java=str(tmp_path / "no-such-java"))
    with pytest.raises(BrokerError, match="Java is missing"):
        broker.up(timeout=5)


def test_java_too_old(tmp_path: Path) -> None:
    java = _script(tmp_path / "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()), java=java)
    with pytest.raises(BrokerError, match=r"Java 11 .* too old: .* needs Java 17"):
        broker.up(timeout=5)


def test_java_8_style_version_is_understood(tmp_path: Path) -> None:
    java = _script(tmp_path / "java", "echo 'java version \"1.8.0_402\"' >&2\n")
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()), java=java)
    with pytest.raises(BrokerError, match=r"Java 8 .* too old"):
        broker.java()


def test_port_taken_by_something_else(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        broker = LocalBroker(_settings(tmp_path, port))
        with pytest.raises(BrokerError, match=f"port 127.0.0.1:{port} is already taken .* not a Kafka broker"):
            broker.up(timeout=5)


def test_maven_unreachable_and_no_cache(tmp_path: Path) -> None:
    mvn = _script(tmp_path / "mvn", 'echo "[ERROR] Could not transfer artifact: Network is unreachable"\nexit 1\n')
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()), mvn=mvn)
    with pytest.raises(BrokerError, match=r"(?s)Maven could not fetch Apache Kafka .*Network is unreachable"):
        broker.up(timeout=5)
    assert not broker.lib_dir.exists(), "a failed fetch must not leave a half cache behind"


def test_maven_missing_and_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()), java="/usr/bin/java")
    with pytest.raises(BrokerError, match="Maven is missing"):
        broker.ensure_jars()


def test_not_ready_within_timeout_shows_the_log_and_stops_the_process(tmp_path: Path) -> None:
    java = _script(
        tmp_path / "java",
        'case "$*" in\n'
        "  *-version*) echo 'openjdk version \"17.0.9\"' >&2 ;;\n"
        "  *StorageTool*) exit 0 ;;\n"
        '  *kafka.Kafka*) echo "stand-in broker waiting for a controller quorum"; exec sleep 300 ;;\n'
        "esac\n",
    )
    settings = _settings(tmp_path, _free_port_pair())
    _with_cached_jars(settings)
    broker = LocalBroker(settings, java=java)
    with pytest.raises(BrokerError, match=r"(?s)did not answer .* within 2 s.*waiting for a controller quorum"):
        broker.up(timeout=2)
    assert not broker.pid_file.exists()


def test_broker_that_exits_during_start_up_shows_the_log(tmp_path: Path) -> None:
    java = _script(
        tmp_path / "java",
        'case "$*" in\n'
        "  *-version*) echo 'openjdk version \"21.0.1\"' >&2 ;;\n"
        "  *StorageTool*) exit 0 ;;\n"
        '  *kafka.Kafka*) echo "ERROR Invalid cluster.id in meta.properties"; exit 1 ;;\n'
        "esac\n",
    )
    settings = _settings(tmp_path, _free_port_pair())
    _with_cached_jars(settings)
    with pytest.raises(BrokerError, match=r"(?s)exited during start-up.*Invalid cluster.id"):
        LocalBroker(settings, java=java).up(timeout=20)


def test_a_line_break_in_a_setting_never_becomes_a_property_of_the_broker(tmp_path: Path) -> None:
    """A value written into server.properties unescaped could add a property of its own - a super user, say."""
    injected = "super.users=User:politie"
    with pytest.raises(BrokerError, match="not host:port"):
        LocalBroker(
            _settings(tmp_path, _free_port_pair()).model_copy(update={"kafka_bootstrap": f"127.0.0.1\n{injected}:9092"})
        )

    java = _script(
        tmp_path / "java",
        'case "$*" in\n'
        "  *-version*) echo 'openjdk version \"17.0.9\"' >&2 ;;\n"
        "  *StorageTool*) exit 0 ;;\n"
        "  *kafka.Kafka*) exec sleep 300 ;;\n"
        "esac\n",
    )
    settings = _settings(tmp_path, _free_port_pair()).model_copy(update={"data_dir": tmp_path / f"data\n{injected}"})
    _with_cached_jars(settings)
    broker = LocalBroker(settings, java=java)
    with pytest.raises(BrokerError, match="cannot go into the broker's configuration"):
        broker.up(timeout=2)
    written = [path.read_text() for path in tmp_path.rglob("server.properties")]
    assert not [text for text in written if injected in text.splitlines()]


def test_two_ups_at_once_make_one_password_per_principal(tmp_path: Path) -> None:
    """Two ``kafka up`` at once find a principal's password file missing and both make one. Each must end up with
    the password the file holds (else one registers a password no file has), and neither may fail."""
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()))
    for round_ in range(10):
        path = tmp_path / f"credentials-{round_}" / "politie"
        start = threading.Barrier(8)

        def make(path: Path = path, start: threading.Barrier = start) -> str:
            start.wait()
            return broker._password(path)

        with ThreadPoolExecutor(8) as pool:
            passwords = [future.result() for future in [pool.submit(make) for _ in range(8)]]
        assert set(passwords) == {path.read_text().strip()}
        assert path.stat().st_mode & 0o077 == 0
        assert [p.name for p in path.parent.iterdir()] == ["politie"], "a temporary file was left behind"


def test_stale_pid_file_is_handled(tmp_path: Path) -> None:
    broker = LocalBroker(_settings(tmp_path, _free_port_pair()))
    broker.pid_file.parent.mkdir(parents=True)
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not a Kafka broker
    state = broker.status()
    assert state.stale_pid_file
    assert not state.managed
    assert not state.answering
    assert broker.down() == "Kafka was not running (removed a stale pid file)"
    assert not broker.pid_file.exists()


@pytest.fixture
def second_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[LocalBroker]:
    """A broker of its own on free ports, sharing the jar cache of the session broker."""
    broker = LocalBroker(_settings(tmp_path, _free_port_pair(), cache=Settings().cache_dir))
    yield broker
    broker.down(timeout=10)


@pytest.mark.kafka
def test_up_status_down_for_real_secured_then_insecure(second_broker: LocalBroker) -> None:
    said = second_broker.up(timeout=120)
    assert said.startswith(f"Kafka {kafka_version()} is up at {second_broker.bootstrap}")
    assert "secured" in said
    state = second_broker.status()
    assert state.answering
    assert state.managed

    again = second_broker.up(timeout=30)
    assert again.startswith(f"Kafka is already up at {second_broker.bootstrap}")

    home = second_broker.home
    secrets = [path for folder in ("credentials", "broker", "tls") for path in (home / folder).iterdir()]
    private = [path for path in secrets if path.name not in ("ca.pem", "registered")]
    assert {path.name for path in private} >= {"admin", "hub", "politie", "broker-scram", "controller-plain"}
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in [*private, home / "server.properties"])
    passwords = [path.read_text().strip() for path in private if not path.name.endswith(".pem")]
    logs = [said, again, *(path.read_text(errors="replace") for path in (home / "logs").iterdir())]
    assert not [password for password in passwords for text in logs if password in text], "a password was logged"

    assert second_broker.down(timeout=30).startswith("Kafka stopped")
    assert not second_broker.status().answering
    assert second_broker.down() == "Kafka was not running"

    # --insecure: a PLAINTEXT broker on the same storage (one test: every real start costs seconds).
    insecure = LocalBroker(second_broker.settings, insecure=True)
    said = insecure.up(timeout=120)
    try:
        assert "secured" not in said
        assert insecure.recorded_protocol() == "PLAINTEXT"
        plain = insecure.client_settings().kafka_client_config("politie")
        assert plain["security_protocol"] == "PLAINTEXT"
        assert "sasl_plain_password" not in plain
        assert insecure.status().answering
    finally:
        insecure.down(timeout=30)


@pytest.mark.kafka
def test_another_local_user_cannot_read_the_brokers_files(kafka_admin_config: dict[str, object]) -> None:
    """A local user who reads the broker's files bypasses every ACL: the segments hold every topic's records, the
    metadata log the SCRAM verifiers. The broker's home is its owner's only, and what the broker writes there too."""
    import uuid

    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    broker = LocalBroker(Settings())
    assert stat.S_IMODE(broker.home.stat().st_mode) & 0o077 == 0, f"{broker.home} is open to other local users"
    topic = f"private-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**kafka_admin_config)
    try:
        admin.create_topics([NewTopic(topic, 1, -1)])
        producer = KafkaProducer(**kafka_admin_config, acks="all")
        try:
            producer.send(topic, value=b"a partner's event").get(timeout=30)
        finally:
            producer.close()
        written = [path for node in broker.nodes for path in (node.data_dir / f"{topic}-0").iterdir()]
        assert written
        loose = [f"{oct(stat.S_IMODE(path.stat().st_mode))} {path}" for path in written if path.stat().st_mode & 0o077]
        assert not loose, "the broker wrote files other local users may read"
    finally:
        admin.delete_topics([topic])
        admin.close()
