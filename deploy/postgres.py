"""A throw-away local PostgreSQL server on loopback, for the lineage tests, benchmarks and the demo.

:class:`LocalPostgres` initialises a cluster in a fresh temporary directory, starts it on a free loopback port with its
unix socket in that directory (never the system's ``/var/run/postgresql``, never another cluster's port), and on
:meth:`LocalPostgres.stop` shuts it down and removes the directory. Nothing outside the temporary directory is
touched, so it coexists with a system PostgreSQL and with other test sessions.

PostgreSQL refuses to run as root. When we are root (CI, containers) every server command runs as the ``postgres``
system user (``runuser -u postgres --``), which the Debian ``postgresql`` package creates; the temporary directory is
handed to that user. The binaries come from ``SCHAKEL_POSTGRES_BIN`` when set, else the newest
``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else ``initdb`` on the PATH.
``deploy/system-packages.sh`` installs the ``postgresql`` package when no ``initdb`` is found.

``durable=False`` (the tests) turns off fsync and synchronous commit: fast, and a crash only loses a throw-away
cluster. Benchmarks pass ``durable=True`` to measure what production would see.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from schakel.errors import SchakelError

__all__ = ["LocalPostgres", "PostgresError", "find_postgres_bin"]

_SERVICE_USER = "postgres"


class PostgresError(SchakelError):
    """The local PostgreSQL server could not be found, initialised, started or stopped."""


def find_postgres_bin() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    configured = os.environ.get("SCHAKEL_POSTGRES_BIN")
    if configured:
        candidates = [Path(configured)]
    else:

        def version(path: Path) -> tuple[int, ...]:
            return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install the Debian 'postgresql' package "
        "(make system does) or set SCHAKEL_POSTGRES_BIN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalPostgres:
    """One temporary PostgreSQL cluster; use as a context manager or call :meth:`start` and :meth:`stop`."""

    def __init__(self, *, durable: bool = False, base_dir: Path | None = None) -> None:
        self.durable = durable
        self._base_dir = base_dir
        self._bin = find_postgres_bin()
        self._as_root = os.geteuid() == 0
        self.dir: Path | None = None
        self.port: int | None = None

    # -- commands ------------------------------------------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", _SERVICE_USER, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 120) -> None:
        try:
            done = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PostgresError(f"{Path(args[0]).name} did not run: {error}") from None
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise PostgresError(f"{Path(args[0]).name} failed (exit {done.returncode}):\n{tail}")

    def _give_to_service_user(self, path: Path) -> None:
        try:
            user = pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            raise PostgresError(
                "running as root, but there is no 'postgres' system user to run the server as "
                "(the Debian 'postgresql' package creates it)"
            ) from None
        os.chown(path, user.pw_uid, user.pw_gid)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """A libpq URL for the ``postgres`` database (trust authentication on loopback)."""
        if self.port is None:
            raise PostgresError("the server is not running")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        """The URL of another database on this server."""
        return self.url.rsplit("/", 1)[0] + f"/{database}"

    def start(self, timeout: float = 60) -> str:
        """Initialise and start the cluster; return its URL."""
        if self.port is not None:
            return self.url
        base = self._base_dir or Path(tempfile.gettempdir())
        if self._as_root and str(base.resolve()).startswith("/root"):
            base = Path("/tmp")  # noqa: S108 - the postgres user cannot reach into /root
        self.dir = Path(tempfile.mkdtemp(prefix="schakel-pg-", dir=base))
        atexit.register(self.stop)
        if self._as_root:
            self._give_to_service_user(self.dir)
        data = self.dir / "data"
        self._run(
            str(self._bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            *(() if self.durable else ("--no-sync",)),
        )
        options = [f"-k {self.dir}", "-c listen_addresses=127.0.0.1", "-c max_connections=50"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        last_error: PostgresError | None = None
        for _ in range(3):  # a free port can be taken between the probe and the server's bind: try another
            port = _free_port()
            try:
                self._run(
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.dir / "server.log"),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    " ".join([f"-p {port}", *options]),
                    "start",
                    timeout=timeout + 10,
                )
            except PostgresError as error:
                last_error = error
                continue
            self.port = port
            return self.url
        log = self.dir / "server.log"
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        self.stop()
        raise PostgresError(f"PostgreSQL did not start: {last_error}\n" + "\n".join(tail))

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory. Safe to call twice."""
        if self.dir is None:
            return
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresError):
                self._run(str(self._bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.port = None

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
