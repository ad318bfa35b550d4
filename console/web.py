"""The console's HTTP server (aiohttp): pages rendered on the server, one small static script for the live inbox.

Security choices (issue 13, items 1 and 5):

- Every page asks :mod:`schakel.console.access` whether the signed-in user may open it; a case manager's inbox,
  items, cases and live stream carry the organisation in the path and are refused (403) for any other organisation -
  checked before the item is looked up, so a 403 says nothing about whether an item exists.
- Sessions live in an encrypted, authenticated cookie (aiohttp-session's ``EncryptedCookieStorage``: Fernet) that is
  ``Secure``, ``HttpOnly`` and ``SameSite=Strict``, named with the ``__Host-`` prefix (so also ``Path=/`` and no
  ``Domain``): a browser keeps it only when this host set it over a secure connection, so a sibling subdomain or a
  plain-HTTP page on the same name cannot plant or overwrite it (session fixation). *Judgement call*: the prefix is
  always on, not only behind HTTPS - the cookie was ``Secure`` already, and browsers treat a loopback address
  (``http://127.0.0.1``, ``http://localhost``: the demo, local development, the browser tests) as a secure origin
  for both, so nothing that worked before stops working. Served over plain HTTP on any other address the console
  never kept a session (the ``Secure`` cookie is dropped); ``schakel console --host`` says to put TLS in front.
  Sign-in starts a new session. The session holds the user name, a
  random session id and a mark of the password hash it was opened with; the account is read again on every request
  (and before every item a live stream sends), so a removed account, a changed password or a signed-out session is
  refused at once. A cookie is valid by itself, so sign-out remembers the session's id until the cookie would have
  expired (:attr:`ConsoleState.signed_out`): a copy of the cookie cannot be replayed. *Limit*: that memory is the
  process's; a restart forgets it (a cookie copied before its sign-out works again until its 8 hours are over) -
  deleting ``session.key`` before the restart ends every session.
- Every POST carries the session's CSRF token (compared in constant time), or it is refused with 400.
- Values from events are escaped by Jinja2's autoescape wherever they are rendered, and the Content-Security-Policy
  allows scripts, styles and connections from the console's own origin only (no inline script or style, no third
  party), and no framing.
- The BSN of an art. 15 request travels only in a POST body; it is pseudonymised at once, never echoed into the page,
  never logged. URLs hold organisation codes, event ids, filter values and page names, never a personal value; error
  pages and log lines name the error class, never a value. A failure's log line names the route's template
  (``/inbox/{org}/items/{event_id}``) and a random request id shown on the error page, never the path or query
  that was asked: whatever a user typed into the address bar (a BSN, a name in a filter) stays out of the logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from uuid import UUID

import jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from schakel.console import caseboard, denials
from schakel.console.access import Page, Principal, may_reach, may_read_inbox, reachable_pages
from schakel.console.accounts import Account, AccountsFile, LockOut, SignInBusyError, Verifications, is_username
from schakel.console.agenda import agenda_proposals
from schakel.console.feed import Feed
from schakel.console.i18n import LANGUAGES, translate
from schakel.console.inbox import Filters, InboxItem, group_cases
from schakel.guidance import CourseOfAction, Guidance, load_guidance
from schakel.lineage import InvalidBsnError, LineageStore, render_subject_report_html, subject_pseudonyms
from schakel.lineage.api import parse_since
from schakel.schemas import EventType, Organisation, Theme

__all__ = ["CONTENT_SECURITY_POLICY", "ConsoleState", "create_app"]

_log = logging.getLogger("schakel.console")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_LANG_COOKIE = "schakel_lang"
_SESSION_COOKIE = "__Host-schakel_session"
_SESSION_SECONDS = 8 * 3600
_KEEP_ALIVE = 15.0
_RETRY_BUSY = "2"
"""Seconds a sign-in answered "busy" (too many password checks under way) is told to wait."""


@dataclass
class ConsoleState:
    """What the handlers share: the feed, the lineage store, the accounts and the lock-out, the templates."""

    feed: Feed
    store: LineageStore
    accounts: AccountsFile
    lockout: LockOut = field(default_factory=LockOut)
    verifications: Verifications = field(default_factory=Verifications)
    """The threads that check passwords, and the bound on checks under way (see :mod:`schakel.console.accounts`)."""
    guidance: Guidance = field(default_factory=load_guidance)
    """The courses of action an item's reference is looked up in (the console never chooses one itself)."""
    pseudonymise: Callable[[str], Sequence[str]] = subject_pseudonyms
    streams: set[asyncio.Task[Any]] = field(default_factory=set)
    signed_out: dict[str, float] = field(default_factory=dict)
    """The ids of signed-out sessions, each until its cookie expires (``time.time()``), so its cookie is refused."""
    templates: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.PackageLoader("schakel.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


_STATE: web.AppKey[ConsoleState] = web.AppKey("console", ConsoleState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- plumbing -----------------------------------------------------------------------------------------------------


def _state(request: web.Request) -> ConsoleState:
    return request.app[_STATE]


def _language(request: web.Request) -> str:
    chosen = request.cookies.get(_LANG_COOKIE, "nl")
    return chosen if chosen in LANGUAGES else "nl"


def _password_mark(account: Account) -> str:
    """What a session remembers of the password it was opened with: changing the password ends the session."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()


async def _principal(request: web.Request) -> Principal | None:
    session = await get_session(request)
    username, session_id, mark = session.get("user"), session.get("sid"), session.get("password")
    if not isinstance(username, str):
        return None
    state = _state(request)
    account = await asyncio.to_thread(lambda: state.accounts.load().get(username))
    if (
        account is None
        or not isinstance(session_id, str)
        or session_id in state.signed_out
        or not isinstance(mark, str)
        or not hmac.compare_digest(mark, _password_mark(account))
    ):
        session.invalidate()
        return None
    return account.principal()


async def _csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _course_of(state: ConsoleState) -> Callable[[InboxItem], CourseOfAction | None]:
    """The course an item's reference names, if the console's guidance holds exactly that version."""
    return lambda item: state.guidance.find(item.guidance)


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    language = _language(request)
    principal: Principal | None = context.pop("principal", None)
    state = _state(request)
    body = state.templates.get_template(template).render(
        course_of=_course_of(state),
        lang=language,
        t=lambda key, **values: translate(language, key).format(**values) if values else translate(language, key),
        principal=principal,
        pages=reachable_pages(principal) if principal else [],
        page_url=lambda page: _page_url(page, principal) if principal else "/",
        path=request.path_qs,
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return _render(
        request, template, status, principal=await _principal(request), csrf=await _csrf_token(request), **context
    )


async def _require(request: web.Request, page: Page) -> Principal:
    principal = await _principal(request)
    if principal is None:
        raise web.HTTPSeeOther("/login")
    if not may_reach(principal, page):
        raise web.HTTPForbidden()
    return principal


async def _require_inbox(request: web.Request) -> tuple[Principal, str]:
    principal = await _require(request, Page.INBOX)
    organisation = request.match_info["org"]
    if not may_read_inbox(principal, organisation):
        raise web.HTTPForbidden()
    return principal, organisation


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Error pages that name the status, never a value from the request."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        key = {400: "bad_request", 403: "forbidden", 404: "not_found"}.get(error.status, "error")
        return await _page(request, "error.html.j2", error.status, key=key)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        # The route's template, never the path or the query: those hold event ids, filter values, whatever a user
        # typed into the address bar (a BSN, a name). The request id on the error page finds this line.
        request_id = secrets.token_hex(8)
        _log.error("%s %s failed: %s (request %s)", request.method, _route(request), type(error).__name__, request_id)
        return await _page(request, "error.html.j2", 500, key="error", request_id=request_id)


def _route(request: web.Request) -> str:
    """The template of the route that matched (``/inbox/{org}/items/{event_id}``), not the path that was asked."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


@web.middleware
async def _csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST carries the session's CSRF token."""
    if request.method == "POST":
        form = await request.post()
        sent = form.get("csrf")
        expected = (await get_session(request)).get("csrf")
        if (
            not isinstance(sent, str)
            or not isinstance(expected, str)
            or not hmac.compare_digest(sent.encode(), expected.encode())  # as str, a non-ASCII one raises TypeError
        ):
            raise web.HTTPBadRequest()
    return await handler(request)


async def _security_headers(_: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")


# -- sign-in ------------------------------------------------------------------------------------------------------


async def _home(request: web.Request) -> web.StreamResponse:
    principal = await _principal(request)
    if principal is None:
        raise web.HTTPSeeOther("/login")
    pages = reachable_pages(principal)
    if not pages:
        raise web.HTTPForbidden()
    raise web.HTTPSeeOther(_page_url(pages[0], principal))


def _page_url(page: Page, principal: Principal) -> str:
    if page is Page.INBOX:
        return f"/inbox/{principal.organisation}"
    if page is Page.CASE_BOARD:
        return "/board"
    return f"/compliance/{page}"


async def _login_form(request: web.Request) -> web.StreamResponse:
    return await _page(request, "login.html.j2", message=None)


async def _login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
    state = _state(request)
    if not is_username(username):  # no account has it: nothing to check, nothing to remember
        return await _page(request, "login.html.j2", 401, message="bad_login")
    if not state.lockout.begin(username):  # counts this attempt before it is checked: guesses sent at once too
        return await _page(request, "login.html.j2", 429, message="locked")
    try:
        account = await state.verifications.check(state.accounts, username, password)
    except SignInBusyError:  # too many checks under way: not checked, not counted against the name
        state.lockout.abandoned(username)
        busy = await _page(request, "login.html.j2", 503, message="busy")
        busy.headers["Retry-After"] = _RETRY_BUSY
        return busy
    except BaseException:
        state.lockout.abandoned(username)
        raise
    if account is None:
        state.lockout.failed(username)
        return await _page(request, "login.html.j2", 401, message="bad_login")
    state.lockout.succeeded(username)
    session = await new_session(request)
    session["user"] = account.username
    session["sid"] = secrets.token_urlsafe(18)
    session["password"] = _password_mark(account)
    session["csrf"] = secrets.token_urlsafe(32)
    raise web.HTTPSeeOther("/")


async def _logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session_id = session.get("sid")
    if isinstance(session_id, str):
        signed_out, now = _state(request).signed_out, time.time()
        for expired in [key for key, until in signed_out.items() if until <= now]:
            del signed_out[expired]
        signed_out[session_id] = now + _SESSION_SECONDS
    session.invalidate()
    raise web.HTTPSeeOther("/login")


async def _set_language(request: web.Request) -> web.StreamResponse:
    language = request.match_info["lang"]
    target = request.query.get("next", "/")
    # A browser drops tabs and line breaks from a URL ("/\t/evil.example" is "//evil.example", another site), and
    # so does the Location header's own parsing: only a printable path of this site is followed.
    if not target.startswith("/") or target.startswith("//") or "\\" in target or not target.isprintable():
        target = "/"
    response = web.HTTPSeeOther(target)
    if language in LANGUAGES:
        response.set_cookie(_LANG_COOKIE, language, max_age=365 * 86400, secure=True, httponly=True, samesite="Strict")
    raise response


# -- inbox --------------------------------------------------------------------------------------------------------


async def _inbox(request: web.Request) -> web.StreamResponse:
    _, organisation = await _require_inbox(request)
    filters = Filters.of(request.query)
    items = filters.apply(_state(request).feed.items(organisation))
    return await _page(
        request,
        "inbox.html.j2",
        organisation=organisation,
        items=items,
        filters=filters,
        themes=[str(t) for t in Theme],
        types=[str(t) for t in EventType],
        stream=f"/inbox/{organisation}/stream?{filters.query()}",
    )


async def _item(request: web.Request) -> web.StreamResponse:
    _, organisation = await _require_inbox(request)
    item = _state(request).feed.item(organisation, request.match_info["event_id"])
    if item is None:
        raise web.HTTPNotFound()
    return await _page(request, "item_page.html.j2", organisation=organisation, item=item)


async def _cases(request: web.Request) -> web.StreamResponse:
    _, organisation = await _require_inbox(request)
    groups = group_cases(_state(request).feed.items(organisation))
    return await _page(request, "cases.html.j2", organisation=organisation, groups=groups)


def _event(item: InboxItem, request: web.Request, organisation: str) -> bytes:
    html = _render(request, "item.html.j2", item=item, organisation=organisation).text or ""
    lines = "".join(f"data: {line}\n" for line in html.splitlines())
    return f"event: item\n{lines}\n".encode()


async def _stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new item for the organisation (matching the filters) as a rendered fragment."""
    _, organisation = await _require_inbox(request)
    filters = Filters.of(request.query)
    state = _state(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = state.feed.subscribe(organisation)
    task = asyncio.current_task()
    assert task is not None
    state.streams.add(task)

    async def still_allowed() -> bool:  # asked again before anything is sent: a busy stream is never idle
        principal = await _principal(request)
        return principal is not None and may_read_inbox(principal, organisation)

    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), _KEEP_ALIVE)
            except TimeoutError:
                if not await still_allowed():
                    break
                await response.write(b": keep-alive\n\n")
                continue
            if item.recipient == organisation and filters.matches(item):
                if not await still_allowed():
                    break
                await response.write(_event(item, request, organisation))
    except (asyncio.CancelledError, ConnectionResetError):
        pass
    finally:
        state.feed.unsubscribe(organisation, queue)
        state.streams.discard(task)
    return response


# -- case board ---------------------------------------------------------------------------------------------------


async def _board(request: web.Request) -> web.StreamResponse:
    principal = await _require(request, Page.CASE_BOARD)
    feed = _state(request).feed
    received = feed.items(str(Organisation.ZVH))
    cases = caseboard.build_board([*received, *feed.zvh_sent], datetime.now(UTC))
    proposals = agenda_proposals(item.bundle for item in received if item.bundle is not None)
    # A bundled signal links to the ZVH's copy of it only for a viewer who may open the ZVH's inbox.
    linkable = {item.event_id for item in received} if may_read_inbox(principal, Organisation.ZVH) else set()
    return await _page(request, "board.html.j2", cases=cases, proposals=proposals, linkable=linkable)


# -- compliance ---------------------------------------------------------------------------------------------------


async def _trace(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.TRACE)
    text = request.query.get("event", "").strip()
    report, invalid = None, False
    if text:
        try:
            event_id = UUID(text)
        except ValueError:
            invalid = True
        else:
            report = await asyncio.to_thread(_state(request).store.trace, event_id)
    return await _page(request, "trace.html.j2", query=text if not invalid else "", report=report, invalid=invalid)


async def _denials(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.DENIALS)
    records = await asyncio.to_thread(lambda: list(_state(request).store.records()))
    summary = denials.summarise(records)
    return await _page(request, "denials.html.j2", summary=summary, chart=denials.chart(summary))


async def _disclosures(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.DISCLOSURES)
    recipient = request.query.get("to", "")
    since_text, until_text = request.query.get("since", ""), request.query.get("until", "")
    register = None
    if recipient in {str(org) for org in Organisation}:
        try:
            since = parse_since(since_text)
            until = parse_since(until_text)
            end = until + timedelta(days=1) if until is not None else None  # the period includes its last day
        except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
            raise web.HTTPBadRequest() from None
        register = await asyncio.to_thread(_state(request).store.disclosures, recipient, since)
        if end is not None:
            register = register.model_copy(
                update={"disclosures": tuple(d for d in register.disclosures if d.decided_at < end)}
            )
    return await _page(
        request,
        "disclosures.html.j2",
        organisations=[str(org) for org in Organisation],
        recipient=recipient,
        since=since_text,
        until=until_text,
        register=register,
    )


async def _subject_form(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.SUBJECT_REPORT)
    return await _page(request, "subject.html.j2", report=None, invalid=False)


async def _subject(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.SUBJECT_REPORT)
    form = await request.post()
    state = _state(request)
    try:
        pseudonyms = state.pseudonymise(str(form.get("bsn", "")).strip())
    except InvalidBsnError:
        return await _page(request, "subject.html.j2", 422, report=None, invalid=True)
    report = await asyncio.to_thread(state.store.subject_report, pseudonyms)
    if form.get("download"):
        return web.Response(
            text=render_subject_report_html(report),
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="inzage-art15.html"'},
        )
    return await _page(request, "subject.html.j2", report=report, invalid=False)


async def _verify(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.VERIFY)
    store = _state(request).store
    result = await asyncio.to_thread(store.verify)
    heads = await asyncio.to_thread(store.heads)
    return await _page(request, "verify.html.j2", result=result, heads=sorted(heads.items()))


async def _dead_letters(request: web.Request) -> web.StreamResponse:
    await _require(request, Page.DEAD_LETTERS)
    letters = list(reversed(_state(request).feed.dead_letters))
    return await _page(request, "dead_letters.html.j2", letters=letters)


# -- the app ------------------------------------------------------------------------------------------------------


_STATIC_TYPES = {"console.js": "text/javascript", "console.css": "text/css"}


def _static_files() -> dict[str, bytes]:
    """The console's own assets, read once: a fixed list of names, so no path from a request reaches the disk."""
    folder = resources.files("schakel.console") / "static"
    return {name: (folder / name).read_bytes() for name in _STATIC_TYPES}


def _static(files: dict[str, bytes]) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound()
        return web.Response(
            body=files[name], content_type=_STATIC_TYPES[name], headers={"Cache-Control": "max-age=300"}
        )

    return serve


async def _stop_streams(app: web.Application) -> None:
    for task in list(app[_STATE].streams):
        task.cancel()


async def _stop_verifications(app: web.Application) -> None:
    app[_STATE].verifications.close()


def create_app(state: ConsoleState, secret_key: bytes, *, manage_feed: bool = True) -> web.Application:
    """The console over ``state``; ``secret_key`` (32 bytes) encrypts the session cookies. With ``manage_feed`` the
    app starts and stops the feed with itself."""
    app = web.Application(middlewares=[_errors])
    setup_session(
        app,
        EncryptedCookieStorage(
            secret_key,
            cookie_name=_SESSION_COOKIE,
            secure=True,
            httponly=True,
            samesite="Strict",
            max_age=_SESSION_SECONDS,
        ),
    )
    app.middlewares.append(_csrf)
    app[_STATE] = state
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_stop_streams)
    app.on_cleanup.append(_stop_verifications)
    if manage_feed:

        async def _feed(_: web.Application) -> Any:
            await state.feed.start()
            yield
            await state.feed.stop()

        app.cleanup_ctx.append(_feed)
    add = app.router
    add.add_get("/", _home)
    add.add_get("/login", _login_form)
    add.add_post("/login", _login)
    add.add_post("/logout", _logout)
    add.add_get("/lang/{lang}", _set_language)
    add.add_get("/inbox/{org}", _inbox)
    add.add_get("/inbox/{org}/stream", _stream)
    add.add_get("/inbox/{org}/cases", _cases)
    add.add_get("/inbox/{org}/items/{event_id}", _item)
    add.add_get("/board", _board)
    add.add_get("/compliance/trace", _trace)
    add.add_get("/compliance/denials", _denials)
    add.add_get("/compliance/disclosures", _disclosures)
    add.add_get("/compliance/subject", _subject_form)
    add.add_post("/compliance/subject", _subject)
    add.add_get("/compliance/verify", _verify)
    add.add_get("/compliance/dead-letters", _dead_letters)
    add.add_get("/static/{name}", _static(_static_files()))
    return app
