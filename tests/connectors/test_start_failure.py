"""A connector that fails to start leaves nothing running: its health port taken, ``start_connector`` raises, and no
runner keeps reading the partner's files (the process looks failed, so it must be)."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import pytest

from schakel.connectors.running import simulation_for, start_connector
from schakel.connectors.simulation import SimulatedFileDropPartner
from schakel.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def hub(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"sf-{unique}.", partitions=1, data_dir=tmp_path / "data"
    )


def test_a_connector_whose_health_port_is_taken_stops_its_runners(hub: Settings) -> None:
    state_root = hub.data_dir / "simulation"

    async def scenario() -> None:
        with socket.socket() as taken:  # another process holds the health port
            taken.bind((str(hub.metrics_host), 0))
            taken.listen()
            with pytest.raises(OSError, match=r"(?i)address already in use") as refused:
                await start_connector(
                    "om", settings=hub, simulate=state_root, sink=False, metrics_port=taken.getsockname()[1]
                )
        assert refused.value.errno == errno.EADDRINUSE
        partner = simulation_for("om", state_root)
        assert isinstance(partner, SimulatedFileDropPartner)
        submission = await partner.submit(partner.example())
        await asyncio.sleep(3)  # a live source claims a file within a poll (0.5 s)
        assert (partner.to_hub / "inbox" / str(submission.handle)).exists(), "a failed connector read the file"
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        assert not left, f"runner tasks still running after the start failed: {left}"

    asyncio.run(scenario())
