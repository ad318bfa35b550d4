"""The console in a real browser against the real hub and broker (issue 13's browser tests).

Events are sent with ``schakel send`` (a subprocess, as an operator would); the hub worker decides and delivers; the
console's feed reads the egress topics and lineage; Chromium shows the pages. Screenshots of every page go to
``<data dir>/console-screenshots`` (printed by the fixture).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import string
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from schakel.console.inbox import InboxItem
from schakel.guidance import Guidance
from schakel.schemas import EventType, Theme
from schakel.schemas.examples import example_form, synthetic_bsn
from tests.console.conftest import PASSWORD, Live

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

XSS = (
    '<script>window.__xss = "script"</script> <img src="x" onerror="window.__xss = \'img\'"> '
    '<a href="javascript:window.__xss = \'link\'" id="evil">klik</a>'
)


def _referral(**payload: Any) -> dict[str, Any]:
    form = example_form(EventType.REFERRAL, theme=Theme.CTER)
    form["source"] = "gemeente-veiligheid"
    form["payload"].update(payload)
    return form


def _feedback() -> dict[str, Any]:
    """A feedback whose subject fields ZVH may not see (rule 17), with values no other event carries."""
    form = example_form(EventType.FEEDBACK, theme=Theme.CTER)
    form["source"] = "politie"
    rng = random.Random()
    letters = "".join(rng.choice(string.ascii_lowercase) for _ in range(10))
    form["subject"].update(
        bsn=synthetic_bsn(rng),
        name=f"Kim {letters.title()}",
        birth_date=f"19{rng.randrange(50, 99)}-02-{rng.randrange(10, 28)}",
    )
    return form


def _ggz_item() -> dict[str, Any]:
    form = example_form(EventType.CONSENT_CHANGE, theme=Theme.CTER)
    form["source"] = "zvh"
    return form


@pytest.fixture(scope="module")
def delivered(live: Live) -> dict[str, dict[str, Any]]:
    """A referral, a feedback with withheld subject fields, the XSS referral, an item only ggz receives and a signal
    with denials; waits until the console holds each, then ingests the lineage into the store."""
    signal = example_form(EventType.SIGNAL, theme=Theme.CTER)  # denied to three partners: the denials chart
    signal["source"] = "politie"
    events = {
        "referral": _referral(),
        "feedback": _feedback(),
        "xss": _referral(reason=XSS),
        "ggz": _ggz_item(),
        "signal": signal,
    }
    for name, form in events.items():
        live.send_cli(form, form["source"])
        live.wait_for_item("ggz" if name == "ggz" else "zvh", form["id"])
    live.ingest_lineage()
    return events


def _shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def test_sign_in_sets_a_strict_session_cookie(live: Live, sign_in: Callable[..., Page], screenshots: Path) -> None:
    page = sign_in("zvh-cm")
    expect(page).to_have_url(f"{live.url}/inbox/zvh")
    # The __Host- prefix (Secure, Path=/, no Domain): kept by the browser on a loopback address over plain HTTP too.
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-schakel_session")
    assert cookie["path"] == "/"
    assert cookie["httpOnly"]
    assert cookie["secure"]
    assert cookie["sameSite"] == "Strict"
    page.click("form.signout button")
    expect(page).to_have_url(f"{live.url}/login")
    _shot(page, screenshots, "login")
    page.goto("/inbox/zvh")
    expect(page).to_have_url(f"{live.url}/login")


def test_a_referral_appears_live_with_its_rule_and_withheld_field_names(
    live: Live, delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("zvh-cm")
    expect(page.locator("body[data-stream-state=open]")).to_have_count(1)
    referral, feedback = _referral(), _feedback()
    live.send_cli(referral, "gemeente-veiligheid")
    live.send_cli(feedback, "politie")
    item = page.locator(f"#item-{referral['id']}")
    expect(item).to_be_visible(timeout=60_000)
    expect(item.locator(".rule")).to_have_text("6")
    expect(item).to_contain_text("cter@")
    expect(item).to_contain_text("WGS 2.1")
    expect(item).to_contain_text(referral["payload"]["reason"])
    withheld = page.locator(f"#item-{feedback['id']} .withheld")
    expect(withheld).to_have_text("subject.bsn, subject.name, subject.birth_date", timeout=60_000)
    expect(page.locator(f"#item-{feedback['id']}")).to_contain_text("17")
    html = page.content()
    for value in (feedback["subject"]["bsn"], feedback["subject"]["name"], feedback["subject"]["birth_date"]):
        assert value not in html
    assert page.url == f"{live.url}/inbox/zvh"  # it came without a reload
    _shot(page, screenshots, "inbox")
    page.goto("/inbox/zvh/cases")
    expect(page.locator("h2", has_text=referral["case_id"])).to_be_visible()
    _shot(page, screenshots, "cases")
    page.goto(f"/inbox/zvh/items/{feedback['id']}")
    for value in (feedback["subject"]["bsn"], feedback["subject"]["name"]):
        assert value not in page.content()
    _shot(page, screenshots, "item")


def test_filters(delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page]) -> None:
    page = sign_in("zvh-cm")
    page.goto("/inbox/zvh?type=Feedback")
    expect(page.locator(f"#item-{delivered['feedback']['id']}")).to_be_visible()
    expect(page.locator(f"#item-{delivered['referral']['id']}")).to_have_count(0)
    page.goto(f"/inbox/zvh?case={delivered['referral']['case_id']}")
    expect(page.locator(f"#item-{delivered['referral']['id']}")).to_be_visible()
    expect(page.locator(f"#item-{delivered['feedback']['id']}")).to_have_count(0)
    page.goto("/inbox/zvh?theme=LVB")
    expect(page.locator("li.item")).to_have_count(0)


def test_partner_text_is_shown_as_text_and_runs_nothing(
    delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("zvh-cm")
    dialogs: list[str] = []

    def _dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", _dialog)
    event_id = delivered["xss"]["id"]
    for url in ("/inbox/zvh", f"/inbox/zvh/items/{event_id}"):
        page.goto(url)
        item = page.locator(f"#item-{event_id}")
        expect(item).to_contain_text('<script>window.__xss = "script"</script>')
        expect(item).to_contain_text('<img src="x" onerror=')
        assert item.locator("script, img, a#evil").count() == 0
        assert page.evaluate("window.__xss") is None
    assert dialogs == []
    _shot(page, screenshots, "xss")


def test_the_xss_event_arriving_live_runs_nothing(live: Live, sign_in: Callable[..., Page]) -> None:
    page = sign_in("zvh-cm")
    expect(page.locator("body[data-stream-state=open]")).to_have_count(1)
    form = _referral(reason=XSS)
    live.send_cli(form, "gemeente-veiligheid")
    item = page.locator(f"#item-{form['id']}")
    expect(item).to_contain_text("<script>", timeout=60_000)
    assert item.locator("script, img, a#evil").count() == 0
    assert page.evaluate("window.__xss") is None


def test_a_politie_case_manager_cannot_reach_ggz_items(
    live: Live, delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page]
) -> None:
    ggz_item = delivered["ggz"]["id"]
    page = sign_in("politie-cm")
    expect(page).to_have_url(f"{live.url}/inbox/politie")
    for url in ("/inbox/ggz", f"/inbox/ggz/items/{ggz_item}", "/inbox/ggz/stream", "/inbox/ggz/cases"):
        response = page.request.get(url)
        assert response.status == 403, url
        assert f'id="item-{ggz_item}"' not in response.text()
        assert page.goto(url).status == 403  # type: ignore[union-attr]
    for url in ("/board", "/compliance/trace", "/compliance/verify"):
        assert page.request.get(url).status == 403, url
    # ... while the ggz case manager does see it, so the item is really there.
    page.click("form.signout button")
    sign_in("ggz-cm")
    assert page.request.get(f"/inbox/ggz/items/{ggz_item}").status == 200


def test_csrf_token_required_on_every_form(live: Live, sign_in: Callable[..., Page]) -> None:
    page = sign_in("zvh-compliance")
    expect(page).to_have_url(f"{live.url}/compliance/trace")
    form: dict[str, str | float | bool] = {"bsn": "111222333"}
    assert page.request.post("/compliance/subject", form=form).status == 400
    assert page.request.post("/compliance/subject", form={**form, "csrf": "forged"}).status == 400
    assert page.request.post("/logout", form={}).status == 400
    assert page.request.post("/login", form={"username": "zvh-cm", "password": PASSWORD}).status == 400
    assert page.request.get("/compliance/verify").status == 200  # still signed in: the forged logout did nothing


def test_lock_out_after_repeated_failures(live: Live, sign_in: Callable[..., Page], screenshots: Path) -> None:
    from schakel.console.accounts import MAX_FAILURES

    for _ in range(MAX_FAILURES):
        page = sign_in("rvdk-cm", "wrong password!!")
        expect(page.locator(".alert")).to_contain_text("onjuist wachtwoord")
    page = sign_in("rvdk-cm")  # the right password, refused while locked
    expect(page.locator(".alert")).to_contain_text("geblokkeerd")
    expect(page).to_have_url(f"{live.url}/login")
    _shot(page, screenshots, "locked")


def test_the_art15_form(
    live: Live, delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    bsn = delivered["feedback"]["subject"]["bsn"]
    page = sign_in("zvh-compliance")
    page.goto("/compliance/subject")
    page.fill("#bsn", bsn)
    page.click("button[name=show]")
    expect(page.locator("section.partner")).to_have_count(1)
    expect(page.locator("section.partner")).to_contain_text("subject.bsn")
    assert bsn not in page.content()
    assert bsn not in page.url
    assert page.url == f"{live.url}/compliance/subject"
    _shot(page, screenshots, "subject")
    page.fill("#bsn", bsn)
    with page.expect_download() as download:
        page.click("button[name=download]")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Zorg- en Veiligheidshuis" in report
    assert bsn not in report
    page.goto("/compliance/subject")
    page.fill("#bsn", "123456789")
    page.click("button[name=show]")
    expect(page.locator(".alert")).to_contain_text("geen geldig BSN")
    assert "123456789" not in page.content()


def test_verify_intact_then_broken(
    live: Live, delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("zvh-compliance")
    page.goto("/compliance/verify")
    expect(page.locator("#verify-result")).to_have_class("ok")
    _shot(page, screenshots, "verify")
    with sqlite3.connect(live.store_path) as db:
        db.execute("UPDATE lineage_record SET fields_sent = '[]' WHERE event_id = ?", (delivered["xss"]["id"],))
    page.reload()
    expect(page.locator("#verify-result")).to_contain_text("Keten verbroken")
    expect(page.locator("#verify-result")).to_contain_text(delivered["xss"]["id"])
    _shot(page, screenshots, "verify-broken")


def test_compliance_pages_show_names_never_values(
    delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    feedback = delivered["feedback"]
    page = sign_in("zvh-compliance")
    page.goto(f"/compliance/trace?event={feedback['id']}")
    expect(page.locator("ol.timeline li")).not_to_have_count(0)
    expect(page.locator("ol.timeline")).to_contain_text("subject.bsn")
    _shot(page, screenshots, "trace")
    page.goto("/compliance/denials")
    expect(page.locator("svg.chart rect")).not_to_have_count(0)
    _shot(page, screenshots, "denials")
    page.goto("/compliance/disclosures?to=zvh")
    expect(page.locator("table tbody tr")).not_to_have_count(0)
    _shot(page, screenshots, "disclosures")
    page.goto("/compliance/disclosures?to=zvh&until=2025-12-31")
    expect(page.locator("table tbody tr")).to_have_count(0)
    page.goto("/compliance/dead-letters")
    _shot(page, screenshots, "dead-letters")
    for url in ("/compliance/trace?event=" + feedback["id"], "/compliance/disclosures?to=zvh"):
        page.goto(url)
        html = page.content()
        for form in delivered.values():
            assert form["subject"]["bsn"] not in html
            assert form["subject"]["name"] not in html
            assert form["payload"].get("note", "\0") not in html


def test_the_case_board(delivered: dict[str, dict[str, Any]], sign_in: Callable[..., Page], screenshots: Path) -> None:
    page = sign_in("zvh-pd")
    page.goto("/board")
    expect(page.locator("table.board")).to_contain_text(delivered["referral"]["case_id"])
    _shot(page, screenshots, "board")


def test_english(sign_in: Callable[..., Page]) -> None:
    page = sign_in("zvh-cm")
    page.click("a[lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_contain_text("Inbox")
    expect(page.locator("form.signout button")).to_have_text("Sign out")


_PAGES = {
    "zvh-cm": ["/login", "/inbox/zvh", "/inbox/zvh/cases", "ITEM", "BUNDLE"],
    "politie-cm": ["/inbox/politie", "COURSE"],
    "zvh-pd": ["/board"],
    "zvh-compliance": [
        "/compliance/trace",
        "TRACE",
        "DERIVED",
        "/compliance/denials",
        "/compliance/disclosures?to=zvh",
        "/compliance/subject",
        "/compliance/verify",
        "/compliance/dead-letters",
    ],
}


def test_the_axe_harness_does_find_violations(browser: Browser, axe_source: str) -> None:
    """So that an empty violation list below means the pages are clean, not that axe-core did not run."""
    page = browser.new_page()
    page.set_content('<html><body><img src="x.png"><input id="nameless"></body></html>')
    page.add_script_tag(content=axe_source)
    result = page.evaluate("axe.run({resultTypes: ['violations']})")
    assert {"image-alt", "label"} <= {violation["id"] for violation in result["violations"]}
    page.close()


def test_axe_core_finds_no_serious_or_critical_violation(
    live: Live, browser: Browser, delivered: dict[str, dict[str, Any]], agenda: dict[str, Any], axe_source: str
) -> None:
    found: dict[str, list[str]] = {}
    for username, urls in _PAGES.items():
        # CSP is bypassed in this context only, so that axe-core itself can be injected into the pages.
        context = browser.new_context(base_url=live.url, bypass_csp=True)
        page = context.new_page()
        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("form.login button[type=submit]")
        for url in urls:
            url = url.replace("ITEM", f"/inbox/zvh/items/{delivered['referral']['id']}")
            url = url.replace("TRACE", f"/compliance/trace?event={delivered['feedback']['id']}")
            url = url.replace("BUNDLE", f"/inbox/zvh/items/{agenda['bundle'].event_id}")
            url = url.replace("DERIVED", f"/compliance/trace?event={agenda['bundle'].event_id}")
            url = url.replace("COURSE", f"/inbox/politie/items/{agenda['first']['id']}")
            page.goto(url)
            page.add_script_tag(content=axe_source)
            result = page.evaluate("axe.run({resultTypes: ['violations']})")
            found[url] = [
                f"{v['id']} ({v['impact']}): {len(v['nodes'])}"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            print(url, json.dumps([f"{v['id']} ({v['impact']})" for v in result["violations"]]))
        context.close()
    assert len(found) == sum(len(urls) for urls in _PAGES.values())
    assert {url: v for url, v in found.items() if v} == {}


# -- courses of action and the joint signal agenda (issue 15) --------------------------------------------------------


def _lvb_signal(source: str, person: dict[str, Any] | None = None) -> dict[str, Any]:
    form = example_form(EventType.SIGNAL, theme=Theme.LVB)
    form["source"] = source
    if person is not None:
        form.update(person)
    return form


def _bundle_of(live: Live, *event_ids: str, timeout: float = 120.0) -> InboxItem:
    """The bundle at the ZVH that names exactly ``event_ids``, once the console holds it."""
    deadline = time.monotonic() + timeout
    wanted = set(event_ids)
    while True:
        for item in live.console.state.feed.items("zvh"):
            if item.bundle is not None and {s.event_id for s in item.bundle.signals} == wanted:
                return item
        assert time.monotonic() < deadline, f"no bundle of {sorted(wanted)} at the ZVH:\n{live.hub.logs()}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def agenda(live: Live) -> dict[str, Any]:
    """Two partners signal LVB about one person: the police receives the first with its course of action, and the
    ZVH receives both and the bundle the hub proposes; the lineage is ingested into the store."""
    first = _lvb_signal("gemeente-sociaal")
    second = _lvb_signal("politie", {"subject": first["subject"], "case_id": first["case_id"]})
    live.send_cli(first, "gemeente-sociaal")
    live.wait_for_item("politie", first["id"])
    live.wait_for_item("zvh", first["id"])
    live.send_cli(second, "politie")
    live.wait_for_item("zvh", second["id"])
    made = _bundle_of(live, first["id"], second["id"])
    live.ingest_lineage()
    return {"first": first, "second": second, "bundle": made}


def test_the_police_sees_the_course_of_action_beside_the_lvb_signal(
    live: Live, sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("politie-cm")
    expect(page.locator("body[data-stream-state=open]")).to_have_count(1)
    signal = _lvb_signal("gemeente-sociaal")
    live.send_cli(signal, "gemeente-sociaal")
    course = page.locator(f"#item-{signal['id']} section.course")
    expect(course).to_be_visible(timeout=60_000)  # arrives live, course and all
    copy = live.console.state.feed.item("politie", signal["id"])
    assert copy is not None
    assert copy.guidance is not None
    assert copy.guidance.startswith("lvb-signaal-politie@")
    shown = live.console.state.guidance.find(copy.guidance)
    assert shown is not None
    expect(course.locator(".course-title")).to_have_text(shown.title)
    expect(course.locator(".course-steps li")).to_have_count(len(shown.steps))
    expect(course.locator(".course-involve")).to_have_text("zvh, gemeente-sociaal, ggz")
    expect(course.locator(".course-source")).to_contain_text("SCIL")
    expect(course.locator(".course-reference")).to_have_text(copy.guidance)  # the version the hub chose
    expect(course).to_contain_text("Concept")
    # The police did not receive the LVB indication, and the course reveals nothing of it.
    assert signal["payload"]["lvb_indication"] not in page.content()
    _shot(page, screenshots, "inbox-course")


def test_an_item_without_a_course_shows_none_and_an_unknown_version_is_not_passed_off(
    live: Live, agenda: dict[str, Any], sign_in: Callable[..., Page]
) -> None:
    page = sign_in("zvh-cm")
    bundle = agenda["bundle"]
    page.goto(f"/inbox/zvh/items/{bundle.event_id}")
    expect(page.locator(f"#item-{bundle.event_id}")).to_be_visible()
    assert bundle.guidance is None  # the copy carries no course, so the console shows none
    expect(page.locator("section.course")).to_have_count(0)
    page = sign_in("politie-cm")
    item = agenda["first"]["id"]
    state = live.console.state
    loaded = state.guidance
    state.guidance = Guidance(())  # the console holds other course files than the hub
    try:
        page.goto(f"/inbox/politie/items/{item}")
        course = page.locator("section.course")
        expect(course.locator(".course-unavailable")).to_be_visible()
        expect(course.locator(".course-reference")).to_have_text(str(state.feed.item("politie", item).guidance))  # type: ignore[union-attr]
        expect(course.locator(".course-steps li")).to_have_count(0)
    finally:
        state.guidance = loaded


def test_the_zvh_inbox_shows_the_bundle_readably_linked_to_its_signals(
    agenda: dict[str, Any], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("zvh-cm")
    bundle, first, second = agenda["bundle"], agenda["first"], agenda["second"]
    item = page.locator(f"#item-{bundle.event_id}")
    expect(item.locator(".bundle-reason")).to_contain_text("meer dan een partner")
    rows = item.locator("table.bundle tbody tr")
    expect(rows).to_have_count(2)
    assert sorted(item.locator("table.bundle .partner").all_inner_texts()) == ["gemeente-sociaal", "politie"]
    expect(item.locator("table.bundle")).to_contain_text("LVB")
    expect(item.locator("table.bundle")).to_contain_text("high")
    for form in (first, second):  # the bundle names the signals, never their contents
        assert form["payload"]["lvb_indication"] not in item.inner_html()
        assert form["payload"]["observed_behaviour"] not in item.inner_html()
    _shot(page, screenshots, "inbox-bundle")
    item.locator(f"a[href='/inbox/zvh/items/{second['id']}']").click()
    expect(page).to_have_url(f"{page.url.split('/inbox')[0]}/inbox/zvh/items/{second['id']}")
    expect(page.locator(f"#item-{second['id']}")).to_contain_text("politie")


def test_the_case_board_lists_the_agenda_proposal(
    agenda: dict[str, Any], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    page = sign_in("zvh-pd")
    page.goto("/board")
    proposal = page.locator(f"#proposal-{agenda['bundle'].event_id}")
    expect(proposal).to_be_visible()
    expect(proposal.locator(".partners")).to_have_text(
        re.compile("^(gemeente-sociaal, politie|politie, gemeente-sociaal)$")
    )
    expect(proposal.locator(".themes")).to_have_text("LVB")
    expect(proposal.locator(".urgencies")).to_have_text("high")
    expect(proposal.locator("table.bundle tbody tr")).to_have_count(2)
    # A process director may not open the ZVH's inbox: the signals are named, not linked.
    expect(proposal.locator("table.bundle a")).to_have_count(0)
    named = sorted(proposal.locator("table.bundle code").all_inner_texts())
    assert named == sorted([agenda["first"]["id"], agenda["second"]["id"]])
    for form in (agenda["first"], agenda["second"]):
        assert form["subject"]["bsn"] not in page.content()
        assert form["subject"]["name"] not in page.content()
    _shot(page, screenshots, "board-agenda")


def test_the_trace_page_leads_from_a_signal_to_its_bundle_and_back(
    agenda: dict[str, Any], sign_in: Callable[..., Page], screenshots: Path
) -> None:
    bundle, first = agenda["bundle"], agenda["first"]
    page = sign_in("zvh-compliance")
    page.goto(f"/compliance/trace?event={first['id']}")
    page.locator(f"ul.derived a[href='/compliance/trace?event={bundle.event_id}']").click()
    expect(page.locator("h2").first).to_contain_text(f"SignalBundle {bundle.event_id}")
    expect(page.locator(".derived-from a")).to_have_count(2)
    expect(page.locator(".derived-from")).to_contain_text(f"gemeente-sociaal/{first['id']}")
    _shot(page, screenshots, "trace-bundle")


def test_security_headers(live: Live, sign_in: Callable[..., Page]) -> None:
    page = sign_in("zvh-cm")
    for url in ("/inbox/zvh", "/static/console.js", "/login", f"/inbox/zvh/items/{uuid.uuid4()}"):
        headers = page.request.get(url).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
