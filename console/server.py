"""Running the console: its settings, the session key, and a server in a thread of its own (demo, tests).

``SCHAKEL_CONSOLE_ACCOUNTS`` names the accounts file (default ``<data dir>/console/accounts.json``). The key that
encrypts the session cookies is read from ``<data dir>/console/session.key`` and made there (32 random bytes, mode
0600) when missing, so sessions survive a restart; deleting the file signs everyone out.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from pydantic_settings import BaseSettings, SettingsConfigDict

from schakel.console.accounts import AccountsFile
from schakel.console.feed import Feed
from schakel.console.web import ConsoleState, create_app
from schakel.guidance import load_guidance
from schakel.lineage import LineageStore, open_store
from schakel.settings import Settings

__all__ = ["ConsoleServer", "ConsoleSettings", "accounts_file", "build_state", "session_key"]


class ConsoleSettings(BaseSettings):
    """The console's own settings (``SCHAKEL_CONSOLE_*``)."""

    model_config = SettingsConfigDict(env_prefix="SCHAKEL_CONSOLE_", env_file=None, extra="ignore", frozen=True)

    accounts: Path | None = None


def accounts_file(settings: Settings, console: ConsoleSettings | None = None) -> AccountsFile:
    path = (console or ConsoleSettings()).accounts or settings.data_dir / "console" / "accounts.json"
    return AccountsFile(path)


def session_key(settings: Settings) -> bytes:
    path = settings.data_dir / "console" / "session.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) == 32:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(key)
    return key


def build_state(
    settings: Settings, *, store: LineageStore | None = None, accounts: AccountsFile | None = None
) -> ConsoleState:
    return ConsoleState(
        feed=Feed(settings),
        store=store or open_store(settings.lineage_url, settings.data_dir),
        accounts=accounts or accounts_file(settings),
        guidance=load_guidance(settings.guidance_dir),
    )


@dataclass
class ConsoleServer:
    """The console served from a background thread with its own event loop, on ``host``:``port`` (0: any free)."""

    state: ConsoleState
    key: bytes
    host: str = "127.0.0.1"
    port: int = 0
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ConsoleServer:
        self._thread = threading.Thread(target=self._serve, name="schakel-console", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the console did not start")
        if self._error is not None:
            raise self._error
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as error:  # reported to start()
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._close())
        loop.close()

    async def _open(self) -> None:
        self._runner = web.AppRunner(create_app(self.state, self.key), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
