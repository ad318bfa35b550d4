"""The console's boundary over HTTP (aiohttp's test client; no broker, no browser): what an attacker with an account
of one organisation - or with none - tries, and what the server answers."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from yarl import URL

from schakel.console.access import Role
from schakel.console.accounts import MAX_FAILURES, Account, AccountsFile
from schakel.console.feed import Feed
from schakel.console.inbox import Filters, item_from_copy
from schakel.console.web import ConsoleState, create_app
from schakel.lineage import open_store
from schakel.schemas import EventType, Organisation, Theme
from schakel.schemas.examples import example_form
from schakel.settings import Settings

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "zvh-cm": (Organisation.ZVH, [Role.CASE_MANAGER]),
    "politie-cm": (Organisation.POLITIE, [Role.CASE_MANAGER]),
    "zvh-compliance": (Organisation.ZVH, [Role.COMPLIANCE]),
}
SESSION_COOKIE = "__Host-schakel_session"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class _SlowAccounts(AccountsFile):
    """The accounts file, with each password check counted and taking a while (argon2 does)."""

    checks = 0

    def authenticate(self, username: str, password: str) -> Account | None:
        type(self).checks += 1
        time.sleep(0.2)
        return super().authenticate(username, password)


class _HeldAccounts(AccountsFile):
    """The accounts file, each password check counted (how many at once, on which thread) and held until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()
        self.running = self.most = self.started = 0
        self.threads: set[str] = set()

    def authenticate(self, username: str, password: str) -> Account | None:
        with self._lock:
            self.started += 1
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            self.release.wait(60)
            return super().authenticate(username, password)
        finally:
            with self._lock:
                self.running -= 1


class Visitor:
    """One browser: its own session cookie, sent by hand (the test client's jar would not keep a Secure cookie)."""

    def __init__(self, client: TestClient[Request, Application]) -> None:
        self.client = client
        self.cookie: str | None = None
        self.csrf = ""
        self._text = ""

    def _keep(self, response: ClientResponse) -> None:
        if SESSION_COOKIE in response.cookies:
            self.cookie = response.cookies[SESSION_COOKIE].value or None
        found = _CSRF.search(self._text)
        if found:
            self.csrf = found.group(1)

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        response = await self.client.get(path, headers=self._headers(), allow_redirects=False, **kwargs)
        self._text = await response.text() if response.content_type == "text/html" else ""
        self._keep(response)
        return response

    async def post(self, path: str, data: dict[str, str]) -> ClientResponse:
        response = await self.client.post(
            path, data={"csrf": self.csrf, **data}, headers=self._headers(), allow_redirects=False
        )
        self._text = await response.text() if response.content_type == "text/html" else ""
        self._keep(response)
        return response

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"} if self.cookie else {}

    async def sign_in(self, username: str, password: str = PASSWORD) -> ClientResponse:
        await self.get("/login")
        return await self.post("/login", {"username": username, "password": password})


Scenario = Callable[[TestClient[Request, Application], ConsoleState], Awaitable[None]]


def _run(tmp_path: Path, scenario: Scenario, accounts: AccountsFile | None = None) -> None:
    accounts = accounts or AccountsFile(tmp_path / "accounts.json")
    for username, (org, roles) in ACCOUNTS.items():
        accounts.add(username, org, roles, PASSWORD)
    store = open_store(None, tmp_path / "lineage")
    state = ConsoleState(feed=Feed(Settings(topic_prefix="h.")), store=store, accounts=accounts)

    async def main() -> None:
        app = create_app(state, secrets.token_bytes(32), manage_feed=False)
        async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
            await scenario(client, state)

    try:
        asyncio.run(main())
    finally:
        store.close()


def _deliver(state: ConsoleState, organisation: str, **changes: Any) -> str:
    """A copy the hub delivered to ``organisation``, as the feed publishes it."""
    form = example_form(EventType.REFERRAL, theme=Theme.CTER) | changes
    state.feed._publish(item_from_copy(organisation, form, datetime.now(UTC)))
    return str(form["id"])


@asynccontextmanager
async def _stream(visitor: Visitor, path: str) -> AsyncIterator[ClientResponse]:
    response = await visitor.client.get(path, headers=visitor._headers(), allow_redirects=False)
    try:
        assert response.status == 200
        assert await response.content.readline() == b": connected\n"
        yield response
    finally:
        response.close()


async def _events(response: ClientResponse, wait: float) -> str:
    """What the stream sends within ``wait`` seconds (or until it ends)."""
    received = b""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            line = await asyncio.wait_for(response.content.readline(), left)
        except TimeoutError:
            break
        if not line:
            break
        received += line
    return received.decode()


# -- sessions -----------------------------------------------------------------------------------------------------


def test_the_session_cookie_is_host_only_secure_http_only_and_strict(tmp_path: Path) -> None:
    """The ``__Host-`` prefix: a browser keeps the cookie only from this host over a secure origin, with Path=/ and
    no Domain, so a sibling subdomain or a plain-HTTP page cannot plant a session (fixation)."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        login = await client.get("/login")
        csrf = _CSRF.search(await login.text())
        assert csrf is not None
        cookie = {"Cookie": "; ".join(f"{key}={morsel.value}" for key, morsel in login.cookies.items())}
        answer = await client.post(
            "/login",
            data={"csrf": csrf.group(1), "username": "zvh-cm", "password": PASSWORD},
            headers=cookie,
            allow_redirects=False,
        )
        assert answer.status == 303
        set_cookies = answer.headers.getall("Set-Cookie")
        assert len(set_cookies) == 1
        name, _, attributes = set_cookies[0].partition("=")
        assert name == "__Host-schakel_session"
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in attributes.split(";")[1:]}
        assert "secure" in flags
        assert "httponly" in flags
        assert flags["samesite"].lower() == "samesite=strict"
        assert flags["path"] == "Path=/"
        assert "domain" not in flags

    _run(tmp_path, scenario)


def test_a_session_cookie_is_worthless_after_sign_out(tmp_path: Path) -> None:
    """Someone who copied the cookie (a shared computer, a proxy log) cannot use it once its user signed out."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        anna = Visitor(client)
        assert (await anna.sign_in("zvh-cm")).headers["Location"] == "/"
        assert (await anna.get("/inbox/zvh")).status == 200
        copied = anna.cookie
        assert (await anna.post("/logout", {})).headers["Location"] == "/login"
        thief = Visitor(client)
        thief.cookie = copied
        answer = await thief.get("/inbox/zvh")
        assert (answer.status, answer.headers.get("Location")) == (303, "/login")

    _run(tmp_path, scenario)


def test_a_password_change_ends_the_sessions_opened_with_the_old_password(tmp_path: Path) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        anna = Visitor(client)
        await anna.sign_in("zvh-cm")
        assert (await anna.get("/inbox/zvh")).status == 200
        await asyncio.to_thread(state.accounts.passwd, "zvh-cm", "a brand new password")
        answer = await anna.get("/inbox/zvh")
        assert (answer.status, answer.headers.get("Location")) == (303, "/login")
        fresh = Visitor(client)
        await fresh.sign_in("zvh-cm", "a brand new password")
        assert (await fresh.get("/inbox/zvh")).status == 200

    _run(tmp_path, scenario)


def test_the_live_stream_ends_for_a_removed_account_while_items_keep_coming(tmp_path: Path) -> None:
    """The keep-alive re-checks the account only when the stream is idle; a busy inbox must not keep it open."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        anna = Visitor(client)
        await anna.sign_in("zvh-cm")
        async with _stream(anna, "/inbox/zvh/stream") as stream:
            before = _deliver(state, "zvh")
            assert before in await _events(stream, 1.0)
            await asyncio.to_thread(state.accounts.remove, "zvh-cm")
            after = _deliver(state, "zvh")
            assert after not in await _events(stream, 1.0)

    _run(tmp_path, scenario)


def test_the_live_stream_ends_at_sign_out(tmp_path: Path) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        anna = Visitor(client)
        await anna.sign_in("zvh-cm")
        await anna.get("/inbox/zvh")
        async with _stream(anna, "/inbox/zvh/stream") as stream:
            await anna.post("/logout", {})
            after = _deliver(state, "zvh")
            assert after not in await _events(stream, 1.0)

    _run(tmp_path, scenario)


# -- sign-in ------------------------------------------------------------------------------------------------------


def test_concurrent_guesses_cannot_outrun_the_lock_out(tmp_path: Path) -> None:
    """Guesses sent at once all passed the lock check before the first one had failed: 3x the allowed guesses."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        attacker = Visitor(client)
        await attacker.get("/login")
        _SlowAccounts.checks = 0
        answers = await asyncio.gather(
            *(
                client.post(
                    "/login",
                    data={"csrf": attacker.csrf, "username": "zvh-cm", "password": f"guess number {n}"},
                    headers=attacker._headers(),
                    allow_redirects=False,
                )
                for n in range(3 * MAX_FAILURES)
            )
        )
        assert _SlowAccounts.checks <= MAX_FAILURES
        assert sorted(answer.status for answer in answers) == [401] * MAX_FAILURES + [429] * 2 * MAX_FAILURES
        assert (await attacker.post("/login", {"username": "zvh-cm", "password": PASSWORD})).status == 429

    _run(tmp_path, scenario, _SlowAccounts(tmp_path / "accounts.json"))


def test_a_flood_of_sign_ins_is_bounded_and_signed_in_users_keep_working(tmp_path: Path) -> None:
    """Anyone who can load the sign-in page can ask for argon2 checks (64 MiB and a core each) with a new user name
    each time. While a flood's checks are under way: at most the bound of them run, on threads of their own; the
    excess is answered "busy" (503, Retry-After) at once, unchecked and not counted against the name; and a user
    already signed in can still open the inbox."""
    accounts = _HeldAccounts(tmp_path / "accounts.json")

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        manager = Visitor(client)
        assert (await manager.sign_in("zvh-cm")).status == 303
        accounts.release.clear()  # every check from here on takes until released
        accounts.started = 0
        attacker = Visitor(client)
        await attacker.get("/login")
        bound = state.verifications.verifying + state.verifications.waiting
        flood = [
            asyncio.create_task(
                client.post(
                    "/login",
                    data={"csrf": attacker.csrf, "username": f"guess-{n}", "password": "wrong password!!"},
                    headers=attacker._headers(),
                    allow_redirects=False,
                )
            )
            for n in range(3 * bound)
        ]
        try:
            try:  # generous: on the old code it hangs until the flood's checks are done
                inbox = await asyncio.wait_for(manager.get("/inbox/zvh"), 30)
            except TimeoutError:
                pytest.fail("a flood of sign-ins stalled the inbox of a user already signed in")
            assert inbox.status == 200
            deadline = asyncio.get_running_loop().time() + 30
            while sum(task.done() for task in flood) < 2 * bound and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            held = [task for task in flood if not task.done()]
            answered = [task.result() for task in flood if task.done()]
            assert len(answered) == 2 * bound, "the sign-ins beyond the bound were not answered at once"
            assert {answer.status for answer in answered} == {503}
            assert all(answer.headers.get("Retry-After", "").isdigit() for answer in answered)
            assert "Aanmelden is op dit moment druk." in await answered[0].text()
        finally:
            accounts.release.set()
        rest = await asyncio.gather(*held)
        assert [answer.status for answer in rest] == [401] * bound
        assert accounts.started == bound  # the refused ones were never checked
        assert accounts.most <= state.verifications.verifying
        assert all(name.startswith("schakel-console-verify") for name in accounts.threads), accounts.threads
        assert state.lockout.remembered() == bound  # nor counted against their names
        assert (await Visitor(client).sign_in("zvh-cm")).status == 303

    _run(tmp_path, scenario, accounts)


def test_sign_ins_with_names_no_account_can_have_leave_nothing_behind(tmp_path: Path) -> None:
    """Anyone can load the sign-in page; a failed sign-in with a megabyte-long name must not cost a megabyte."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        attacker = Visitor(client)
        for n in range(3):
            answer = await attacker.sign_in(f"{n}" + "x" * 500_000)
            assert answer.status == 401
            assert "Onbekende gebruikersnaam of onjuist wachtwoord." in attacker._text
        assert state.lockout.remembered() == 0
        assert (await attacker.sign_in("zvh-cm")).headers["Location"] == "/"

    _run(tmp_path, scenario)


# -- redirects, filters, malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\n/evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "/%09/evil.example/",
    ],
)
def test_the_language_switch_never_sends_anyone_off_site(tmp_path: Path, target: str) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        answer = await client.get("/lang/en", params={"next": target}, allow_redirects=False)
        assert answer.status == 303
        # What a browser makes of it (it drops tabs and line breaks from a URL, then resolves it against the page).
        location = re.sub(r"[\t\r\n]", "", answer.headers["Location"])
        assert URL("https://console.example/lang/en").join(URL(location)).host == "console.example"

    _run(tmp_path, scenario)


def test_the_live_stream_filters_are_the_page_filters(tmp_path: Path) -> None:
    """A case id holding '&' or '#' must not change or cut off the filters the live stream is opened with."""

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        anna = Visitor(client)
        await anna.sign_in("zvh-cm")
        await anna.get("/inbox/zvh", params={"case": "A&theme=LVB#x", "type": "Referral"})
        found = re.search(r'data-stream="([^"]+)"', anna._text)
        assert found is not None
        stream = URL(unescape(found.group(1)))
        assert stream.path == "/inbox/zvh/stream"
        assert not stream.fragment
        assert Filters.of(stream.query) == Filters(case="A&theme=LVB#x", event_type="Referral")

    _run(tmp_path, scenario)


def test_a_date_beyond_the_calendar_is_a_bad_request_not_a_crash(tmp_path: Path) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        officer = Visitor(client)
        await officer.sign_in("zvh-compliance")
        for query in ({"to": "zvh", "until": "9999-12-31"}, {"to": "zvh", "since": "not a date"}):
            assert (await officer.get("/compliance/disclosures", params=query)).status == 400, query
        assert (await officer.get("/compliance/disclosures", params={"to": "zvh", "until": "2026-12-31"})).status == 200

    _run(tmp_path, scenario)


def test_a_failing_page_logs_its_route_and_a_reference_never_what_was_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A case manager pastes a BSN into the address bar and a name into a filter; the page fails. The log line an
    operator reads names the route and a reference the user sees on the error page, never the BSN or the name."""
    bsn, name = "123456782", "Jansen"

    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        def broken(organisation: str, event_id: str) -> None:
            raise RuntimeError("the feed failed")

        state.feed.item = broken  # type: ignore[method-assign]
        manager = Visitor(client)
        await manager.sign_in("zvh-cm")
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            answer = await manager.get(f"/inbox/zvh/items/{bsn}", params={"q": name})
        assert answer.status == 500
        assert bsn not in caplog.text
        assert name not in caplog.text
        reference = re.search(r"<code>([0-9a-f]{16})</code>", manager._text)
        assert reference is not None, "the error page shows no reference"
        failed = [record.getMessage() for record in caplog.records if "failed" in record.getMessage()]
        assert failed == [f"GET /inbox/{{org}}/items/{{event_id}} failed: RuntimeError (request {reference.group(1)})"]

    _run(tmp_path, scenario)


# -- the boundary that holds (kept as regression tests) -------------------------------------------------------------


def test_another_organisations_items_are_refused_by_every_route(tmp_path: Path) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        ggz_item = _deliver(state, "ggz")
        politie = Visitor(client)
        await politie.sign_in("politie-cm")
        for path in (
            "/inbox/ggz",
            "/inbox/ggz/cases",
            f"/inbox/ggz/items/{ggz_item}",
            "/inbox/ggz/items/00000000-0000-0000-0000-000000000000",
            "/inbox/ggz/stream",
            "/inbox/GGZ",
            "/inbox/ggz%20",
            "/board",
            "/compliance/trace",
            "/compliance/subject",
        ):
            answer = await politie.get(path)
            assert answer.status in {403, 404}, path
            assert f'id="item-{ggz_item}"' not in politie._text, path
        assert ggz_item not in await (await politie.get("/inbox/politie")).text()
        # The stream of one's own organisation carries nothing of another's.
        async with _stream(politie, "/inbox/politie/stream") as stream:
            _deliver(state, "ggz")
            assert "event: item" not in await _events(stream, 0.5)
        nobody = Visitor(client)
        for path in ("/inbox/ggz", f"/inbox/ggz/items/{ggz_item}", "/inbox/ggz/stream", "/compliance/verify"):
            answer = await nobody.get(path)
            assert (answer.status, answer.headers.get("Location")) == (303, "/login"), path
        assert (await nobody.post("/compliance/subject", {"bsn": "111222333"})).status in {303, 400}

    _run(tmp_path, scenario)


def test_every_post_needs_the_sessions_csrf_token(tmp_path: Path) -> None:
    async def scenario(client: TestClient[Request, Application], state: ConsoleState) -> None:
        officer = Visitor(client)
        await officer.sign_in("zvh-compliance")
        token = officer.csrf
        for forged in (
            {},
            {"csrf": ""},
            {"csrf": "forged"},
            {"csrf": token[:-1]},
            {"csrf": token + "x"},
            {"csrf": "é"},
        ):
            for path, form in (("/compliance/subject", {"bsn": "111222333"}), ("/logout", {})):
                answer = await client.post(path, data=form | forged, headers=officer._headers(), allow_redirects=False)
                assert answer.status == 400, (path, forged)
        assert (await officer.get("/compliance/verify")).status == 200  # the forged sign-out did nothing
        # Another session's token is no good either.
        other = Visitor(client)
        await other.get("/login")
        other.csrf = token
        assert (await other.post("/login", {"username": "zvh-cm", "password": PASSWORD})).status == 400

    _run(tmp_path, scenario)
