"""Benchmark: the time from ``schakel send`` to the item visible in the console's live inbox (median of 20).

A hub worker, the console and headless Chromium signed in to the ZVH inbox, on topics of their own; each round sends
one referral with ``schakel send`` (a subprocess, as an operator would) and waits until the item is on the page,
without a reload. Figures: from the moment the send command exited to the item visible (the hub, the console's feed,
the server-sent event and the browser; the hub may already be at work while the command shuts down), and from the
moment the command was started (adds the CLI's own start-up). A second series of 20 sends in process with the same
producer code (``ingress_message``) and measures from the broker's acknowledgement, the cleanest "delivery to
visible" figure. The goal is 1 s; it is reported, never asserted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kafka import KafkaProducer
from playwright.sync_api import sync_playwright

from schakel.console.access import Role
from schakel.console.accounts import AccountsFile
from schakel.console.server import ConsoleServer, build_state
from schakel.lineage import open_store
from schakel.schemas import EventType, Organisation, Theme, parse_event
from schakel.schemas.examples import example_form
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import ingress_message
from schakel.streams.topics import ADMIN
from tests.streams.conftest import Hub, _delete_topics

ROUNDS = 20
_PASSWORD = "bench-password-123"


def main() -> None:
    os.environ.update(Settings().kafka_environment())  # the broker's reach survives the temporary data dir below
    base = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="schakel-bench-console-"))
    prefix = f"b{secrets.token_hex(5)}."
    settings = base.model_copy(update={"topic_prefix": prefix, "partitions": 2, "data_dir": tmp / "data"})
    env = {
        **os.environ,
        "SCHAKEL_TOPIC_PREFIX": prefix,
        "SCHAKEL_PARTITIONS": "2",
        "SCHAKEL_DATA_DIR": str(tmp / "data"),
    }
    provision(settings)
    producer = KafkaProducer(**settings.kafka_client_config(ADMIN), acks="all")
    hub = Hub(settings, env, tmp, producer)
    hub.worker()
    accounts = AccountsFile(tmp / "accounts.json")
    accounts.add("zvh-cm", Organisation.ZVH, [Role.CASE_MANAGER], _PASSWORD)
    console = ConsoleServer(
        build_state(settings, store=open_store(None, tmp), accounts=accounts), secrets.token_bytes(32)
    ).start()
    after_ack: list[float] = []
    after_start: list[float] = []
    in_process: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium-headless-shell"))
            page = browser.new_page(base_url=console.url)
            page.goto("/login")
            page.fill("#username", "zvh-cm")
            page.fill("#password", _PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("body[data-stream-state=open]")
            for round_ in range(ROUNDS + 1):
                form = example_form(EventType.REFERRAL, theme=Theme.CTER)
                form["source"] = "gemeente-veiligheid"
                path = tmp / f"{form['id']}.json"
                path.write_text(json.dumps(form), encoding="utf-8")
                started = time.monotonic()
                subprocess.run(
                    [sys.executable, "-m", "schakel.cli", "send", "--as", "gemeente-veiligheid", str(path)],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                acked = time.monotonic()
                page.wait_for_selector(f"#item-{form['id']}", timeout=120_000)
                visible = time.monotonic()
                if round_ == 0:
                    continue  # the first one also waits for the worker's start and partition assignment
                after_ack.append(visible - acked)
                after_start.append(visible - started)
            for _ in range(ROUNDS):
                form = example_form(EventType.REFERRAL, theme=Theme.CTER)
                form["source"] = "gemeente-veiligheid"
                message = ingress_message(parse_event(form), settings)
                producer.send(message.topic, key=message.key, value=message.value, headers=message.headers).get(30)
                acked = time.monotonic()
                page.wait_for_selector(f"#item-{form['id']}", timeout=120_000)
                in_process.append(time.monotonic() - acked)
            browser.close()
    finally:
        console.stop()
        producer.close()
        for worker in hub.workers:
            worker.stop()
        _delete_topics(settings)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"`schakel send` exited -> visible in the browser, {ROUNDS} rounds: {_figures(after_ack)}")
    print(f"`schakel send` started -> visible: {_figures(after_start)} (includes the CLI's start-up)")
    print(f"in-process send acknowledged -> visible, {ROUNDS} rounds: {_figures(in_process)} (goal: 1000 ms)")


def _figures(seconds: list[float]) -> str:
    p90 = statistics.quantiles(seconds, n=10)[-1]
    return (
        f"median {statistics.median(seconds) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
