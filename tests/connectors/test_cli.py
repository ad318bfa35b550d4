"""``schakel connectors list|new|run|resend``: what is installed and configured, a scaffold whose own tests pass,
all simulated partners with their connectors in one process (what the demo starts), and resending dead letters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schakel.cli import app
from schakel.connectors.deadletter import dead_letter_message
from schakel.connectors.running import simulation_for
from schakel.connectors.testing import ConnectorContract, copy_message, read_topic, write
from schakel.schemas import Codec
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import DeadLetter
from schakel.streams.topics import HubTopics

_SHIPPED = ("gemeente-sociaal", "gemeente-veiligheid", "politie", "om", "reclassering", "rvdk", "ggz", "zvh")


def test_list_shows_the_eight_shipped_connectors_and_which_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "politie.yaml").write_text("webhook: {secret: s}\ndelivery: {url: 'http://127.0.0.1:1/'}\n")
    monkeypatch.setenv("SCHAKEL_CONNECTORS_CONFIG_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["connectors", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
    assert sorted(row[0] for row in rows) == sorted(_SHIPPED)
    configured = [row for row in rows if row[4].endswith("politie.yaml")]
    assert [row[0] for row in configured] == ["politie"]
    assert "8 installed" in result.stderr


def test_new_refuses_an_organisation_outside_the_catalogue(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["connectors", "new", "veilig-thuis", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--organisation must be one of" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.kafka
def test_a_scaffolded_connector_passes_its_own_contract_tests(kafka_bootstrap: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["connectors", "new", "veilig-thuis", "--organisation", "gemeente-sociaal", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "schakel-connector-veilig-thuis"
    assert 'veilig-thuis = "schakel_connector_veilig_thuis:CONNECTOR"' in (root / "pyproject.toml").read_text()
    env = {**os.environ, "PYTHONPATH": str(root), "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    contract = [name for name in dir(ConnectorContract) if name.startswith("test_")]
    assert f"{len(contract)} passed" in run.stdout


@pytest.mark.kafka
def test_the_contract_kit_reaches_the_local_broker_with_only_its_address_given(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A partner's shell, as the scaffold's README has it: SCHAKEL_KAFKA_BOOTSTRAP and nothing else of Kafka's - how
    the secured local broker is reached is what `schakel kafka up` recorded in the installation's data directory."""
    result = CliRunner().invoke(
        app, ["connectors", "new", "veilig-thuis", "--organisation", "gemeente-sociaal", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "schakel-connector-veilig-thuis"
    installed = Settings()  # the session's: its credentials directory is the broker's, under its data directory
    env = {name: value for name, value in os.environ.items() if not name.startswith("SCHAKEL_KAFKA_")}
    env |= {
        "PYTHONPATH": str(root),
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_DATA_DIR": str(installed.kafka_credentials_path.parent.parent),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "-k", "test_source_puts"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


@pytest.mark.kafka
def test_run_all_simulated_partners_as_one_process_for_the_demo(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"all-{unique}.", data_dir=tmp_path / "data")
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": settings.topic_prefix,
        "SCHAKEL_DATA_DIR": str(settings.data_dir),
    }
    state = tmp_path / "simulation"
    log = tmp_path / "run.log"
    command = [str(Path(sys.executable).with_name("schakel")), "connectors", "run", "all", "--simulate"]
    with open(log, "wb") as output:
        process = subprocess.Popen([*command, "--state-dir", str(state)], env=env, stdout=output, stderr=output)
    try:
        # A ceiling, not a wait: eight connectors start one after another, ~15 s each when `make test`'s workers and
        # other sessions share the two cores (120 s ran out once at six).
        deadline = time.monotonic() + 300
        while log.read_text().count(" running") < len(_SHIPPED):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        police = simulation_for("politie", state)
        submitted = asyncio.run(police.submit(police.example()))
        assert submitted.accepted, submitted
        records = asyncio.run(read_topic(settings, HubTopics.of(settings).ingress("politie"), 1))
        assert str(Codec().decode(records[0].value).id) == submitted.event_id
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert process.returncode == 0, log.read_text()
    assert "stopped" in log.read_text()


@pytest.mark.kafka
def test_resend_puts_only_that_recipients_dead_letters_back(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"rs-{unique}.", data_dir=tmp_path / "data")
    topics = HubTopics.of(settings)
    provision(settings, [topics.dlq, topics.egress("politie"), topics.egress("ggz")])
    letters = []
    for recipient in ("politie", "ggz", "politie"):
        form, message = copy_message(settings, recipient, f"bsn:{unique}")
        letter = DeadLetter("TransientDeliveryError", "gave up after 8 attempts", message.topic, 0, 7, form["id"])
        letters.append(
            dead_letter_message(settings, key=message.key, value=message.value, headers=message.headers, letter=letter)
        )
    asyncio.run(write(settings, *letters))
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": settings.topic_prefix,
        "SCHAKEL_DATA_DIR": str(settings.data_dir),
    }
    run = subprocess.run(
        [str(Path(sys.executable).with_name("schakel")), "connectors", "resend", "--to", "politie"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "resent 2 of 3 dead letters to politie" in run.stdout
    back = asyncio.run(read_topic(settings, topics.egress("politie"), 2))
    assert sorted(r.value for r in back) == sorted(letters[i].value for i in (0, 2))
    for record in back:
        names = [name for name, _ in record.headers]
        assert "schakel-reason" not in names
        assert "schakel-resent-from" in names
        assert "ce_id" in names
