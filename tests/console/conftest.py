"""The real console on the real broker, driven by a real browser.

One hub worker (``schakel run``), one console (in a background thread, on its own topics) and one headless Chromium
(Debian's ``chromium-headless-shell`` through Playwright) per test module; each test gets a fresh browser context.
axe-core comes from npm, pinned, installed once into the cache directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from schakel.console.access import Role
from schakel.console.accounts import AccountsFile
from schakel.console.server import ConsoleServer, build_state
from schakel.lineage import LineageStore, open_store
from schakel.lineage.ingest import ingest
from schakel.schemas import Organisation
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HubTopics
from tests.streams.conftest import Hub, _delete_topics

AXE_CORE_VERSION = "4.10.3"
PASSWORD = "demo-password-123"
ACCOUNTS: dict[str, tuple[Organisation, list[Role]]] = {
    "zvh-cm": (Organisation.ZVH, [Role.CASE_MANAGER]),
    "politie-cm": (Organisation.POLITIE, [Role.CASE_MANAGER]),
    "ggz-cm": (Organisation.GGZ, [Role.CASE_MANAGER]),
    "rvdk-cm": (Organisation.RVDK, [Role.CASE_MANAGER]),  # locked out by the lock-out test
    "zvh-pd": (Organisation.ZVH, [Role.PROCESS_DIRECTOR]),
    "zvh-compliance": (Organisation.ZVH, [Role.COMPLIANCE]),
}


@dataclass
class Live:
    """A hub worker, the console on its topics, the lineage store behind the compliance pages."""

    settings: Settings
    hub: Hub
    console: ConsoleServer
    store: LineageStore
    store_path: Path
    tmp: Path

    @property
    def url(self) -> str:
        return self.console.url

    def send_cli(self, form: dict[str, Any], as_: str) -> None:
        """``schakel send --as ORG event.json``, as an operator would."""
        path = self.tmp / f"{form['id']}.json"
        path.write_text(json.dumps(form), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "schakel.cli", "send", "--as", as_, str(path)],
            env=self.hub.env,
            check=True,
            capture_output=True,
        )

    def wait_for_item(self, organisation: str, event_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        feed = self.console.state.feed
        while feed.item(organisation, event_id) is None:
            assert time.monotonic() < deadline, f"{event_id} never reached {organisation}:\n{self.hub.logs()}"
            time.sleep(0.1)

    def ingest_lineage(self) -> None:
        ingest(
            self.store,
            topic=HubTopics.of(self.settings).lineage,
            kafka_config=self.settings.kafka_client_config(ADMIN),
            group_id=f"{self.settings.topic_prefix}console-test",
        )


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("console")
    prefix = f"t{secrets.token_hex(5)}."
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": prefix,
        "SCHAKEL_PARTITIONS": "2",
        "SCHAKEL_DATA_DIR": str(tmp / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=2, data_dir=tmp / "data")
    provision(settings)  # topics and ACLs under this module's prefix: the worker runs as the hub, the console as itself
    producer = KafkaProducer(**settings.kafka_client_config(ADMIN), acks="all")  # plays every partner
    hub = Hub(settings, env, tmp, producer)
    hub.worker()
    accounts = AccountsFile(tmp / "accounts.json")
    for username, (org, roles) in ACCOUNTS.items():
        accounts.add(username, org, roles, PASSWORD)
    store_path = tmp / "lineage.sqlite3"
    store = open_store(f"sqlite:///{store_path}", tmp)
    console = ConsoleServer(build_state(settings, store=store, accounts=accounts), secrets.token_bytes(32)).start()
    try:
        yield Live(settings, hub, console, store, store_path, tmp)
    finally:
        console.stop()
        store.close()
        producer.close()
        for worker in hub.workers:
            worker.stop()
        _delete_topics(settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: sync Playwright keeps an event loop running in this thread while it is open, and tests of other
    areas that call ``asyncio.run()`` must not run inside it."""
    executable = shutil.which("chromium-headless-shell")
    assert executable, "chromium-headless-shell is missing: run `make system` (deploy/system-packages.sh)"
    with sync_playwright() as playwright:
        launched = _launch(playwright, executable)
        yield launched
        launched.close()


def _launch(playwright: Playwright, executable: str) -> Browser:
    return playwright.chromium.launch(executable_path=executable)


@pytest.fixture
def context(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    created = browser.new_context(base_url=live.url)
    yield created
    created.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def sign_in(page: Page) -> Callable[..., Page]:
    def signed_in(username: str, password: str = PASSWORD) -> Page:
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("form.login button[type=submit]")
        return page

    return signed_in


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's ``axe.min.js``, pinned, from npm into the cache directory (once)."""
    cache = Path(os.environ.get("SCHAKEL_CACHE_DIR") or Settings().cache_dir) / "npm" / f"axe-core-{AXE_CORE_VERSION}"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        assert npm, "npm is missing: run `make system` (deploy/system-packages.sh)"
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", f"axe-core@{AXE_CORE_VERSION}"],
            check=True,
            capture_output=True,
        )
    return script.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("SCHAKEL_DATA_DIR") or Settings().data_dir) / "console-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {folder}")
    return folder
