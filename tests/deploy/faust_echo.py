"""A minimal Faust app (memory store) for the broker compatibility test: copies one topic to another.

Run as a real worker: ``python -m tests.deploy.faust_echo SOURCE TARGET BOOTSTRAP``; it connects as admin, the way
the settings (the environment) say.
"""

from __future__ import annotations

import sys

import faust

from schakel.settings import Settings
from schakel.streams.hub import _credentials
from schakel.streams.topics import ADMIN


def build(source: str, target: str, bootstrap: str) -> faust.App:
    app = faust.App(
        f"echo-{source}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.2,
        broker_credentials=_credentials(Settings(), ADMIN),
    )
    inbound = app.topic(source, value_serializer="raw", key_serializer="raw")
    outbound = app.topic(target, value_serializer="raw", key_serializer="raw")

    @app.agent(inbound)
    async def echo(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await outbound.send(key=event.key, value=b"echo:" + event.value)

    return app


if __name__ == "__main__":
    source_topic, target_topic, bootstrap_servers = sys.argv[1:4]
    app = build(source_topic, target_topic, bootstrap_servers)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
