"""``schakel consent decide|explain|matrix``: the consent processor for professionals and privacy officers.

``decide`` prints the decision for one event and one recipient as JSON; ``explain`` says the same in plain Dutch or
English; ``matrix`` shows who may receive which event types and fields from whom. A malformed event, consent file or
time, an unknown recipient, or covenants that do not load: a clear message on stderr and exit code 2.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from schakel.consent.consent_state import ConsentState
from schakel.consent.decision import Decision
from schakel.consent.errors import CovenantError
from schakel.consent.explanation import LANGUAGES
from schakel.consent.explanation import explain as explain_decision
from schakel.consent.loading import load_policy
from schakel.consent.policy import Policy
from schakel.consent.subject_rights import restrict
from schakel.consent.subject_state import SubjectState
from schakel.output import print_rows
from schakel.schemas import Event, EventInvalid, EventType, Organisation, parse_event

__all__ = ["app"]

app = typer.Typer(
    help="The consent processor: what may a partner receive of an event, under which covenant rule, and why.",
    no_args_is_help=True,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

_EVENT = typer.Option(..., "--event", help="The event in its JSON form (a file).")
_TO = typer.Option(..., "--to", help="The recipient's organisation code, e.g. politie.")
_CONSENT = typer.Option(
    [], "--consent", help="A ConsentChange event (or a list of them), or a consent state in its JSON form; repeatable."
)
_HISTORY = typer.Option(
    [],
    "--history",
    help="Earlier events about the person (a file of one event or a list), folded in order as the hub folds them: "
    "consent changes, referrals, the ZVH's triage decisions, consultation outcomes and case closures; repeatable.",
)
_COVENANTS = typer.Option(None, "--covenants", help="A directory of covenant files; default: the shipped ones.")
_AT = typer.Option(
    None, "--at", help="The decision time, ISO-8601 with offset (e.g. 2026-05-01T10:00:00+02:00); default: now."
)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise _fail(f"cannot read {what} {path}: {error.strerror or error.__class__.__name__}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _fail(f"{what} {path} is not valid JSON: {error}") from None
    except RecursionError:
        raise _fail(f"{what} {path} is not valid JSON: nested too deeply") from None


def _event(path: Path) -> Event:
    try:
        return parse_event(_read_json(path, "event"))
    except EventInvalid as error:
        reasons = getattr(error, "reasons", None) or []
        detail = "".join(f"\n  {reason}" for reason in reasons)
        raise _fail(f"{path} is not a valid event: {error}{detail}") from None


def _recipient(code: str) -> Organisation:
    try:
        return Organisation(code)
    except ValueError:
        known = ", ".join(o.value for o in Organisation)
        raise _fail(f"unknown recipient {code!r} (known: {known})") from None


def _history(paths: list[Path]) -> list[Event]:
    events: list[Event] = []
    for path in paths:
        data = _read_json(path, "history file")
        for item in data if isinstance(data, list) else [data]:
            try:
                events.append(parse_event(item))
            except EventInvalid as error:
                raise _fail(f"{path} holds an invalid event: {error}") from None
    return events


def _consent(paths: list[Path]) -> ConsentState:
    state = ConsentState()
    for path in paths:
        data = _read_json(path, "consent file")
        items = data if isinstance(data, list) else [data]
        for item in items:
            if isinstance(item, dict) and "grants" in item:
                try:
                    loaded = ConsentState.from_json(item)
                except (KeyError, TypeError, ValueError) as error:
                    raise _fail(f"{path} is not a valid consent state: {error.__class__.__name__}") from None
                state = state.merge(loaded)
                continue
            try:
                event = parse_event(item)
            except EventInvalid as error:
                raise _fail(f"{path} holds neither a ConsentChange event nor a consent state: {error}") from None
            if event.type.value != "ConsentChange":
                raise _fail(f"{path} holds a {event.type.value} event, not a ConsentChange")
            state = state.apply(event)
    return state


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--at {text!r} is not an ISO-8601 time") from None
    if at.tzinfo is None:
        raise _fail(f"--at {text!r} needs a UTC offset, e.g. {text}+01:00 or {text}Z")
    return at


def _policy(directory: Path | None) -> Policy:
    try:
        return load_policy(directory)
    except CovenantError as error:
        raise _fail(str(error)) from None


def _decide(
    event_path: Path,
    to: str,
    consent_paths: list[Path],
    history_paths: list[Path],
    covenants: Path | None,
    at: str | None,
) -> tuple[Policy, Event, Decision]:
    recipient = _recipient(to)
    moment = _at(at)
    policy = _policy(covenants)
    event = _event(event_path)
    state = SubjectState(_consent(consent_paths)).apply_all(_history(history_paths))
    return policy, event, state.decide(policy, event, recipient, moment)


@app.command()
def decide(
    event: Path = _EVENT,
    to: str = _TO,
    consent: list[Path] = _CONSENT,
    history: list[Path] = _HISTORY,
    covenants: Path | None = _COVENANTS,
    at: str | None = _AT,
) -> None:
    """Print the decision for one event and one recipient as JSON."""
    _, _, decision = _decide(event, to, consent, history, covenants, at)
    _out.print(json.dumps(decision.to_json(), indent=2, ensure_ascii=False), markup=False)


@app.command()
def explain(
    event: Path = _EVENT,
    to: str = _TO,
    consent: list[Path] = _CONSENT,
    history: list[Path] = _HISTORY,
    covenants: Path | None = _COVENANTS,
    at: str | None = _AT,
    lang: str = typer.Option("en", "--lang", help="Language of the explanation: en or nl."),
    restricted: bool = typer.Option(
        False, "--restricted", help="As the hub decides while the person's processing is restricted (AVG art. 18)."
    ),
) -> None:
    """Say in plain sentences what the recipient may receive of the event, and why."""
    if lang not in LANGUAGES:
        raise _fail(f"--lang must be one of {', '.join(LANGUAGES)}")
    policy, parsed, decision = _decide(event, to, consent, history, covenants, at)
    if restricted and parsed.type is not EventType.SUBJECT_REQUEST:  # requests are never restricted
        (decision,) = restrict((decision,))
    _out.print(explain_decision(decision, parsed, policy, lang), markup=False)
    _out.print(_course_of_action(decision, parsed, lang), markup=False)


def _course_of_action(decision: Decision, event: Event, lang: str) -> str:
    """The course of action the hub would attach to the copy (chosen on the projected copy, as the hub does)."""
    from schakel.consent.decision import Outcome
    from schakel.consent.projection import project
    from schakel.consent.pseudonyms import Pseudonymizer
    from schakel.guidance import GuidanceError, load_guidance
    from schakel.settings import Settings

    dutch = lang == "nl"
    if decision.outcome is Outcome.DENY:
        return "Geen handelingskader: er gaat geen kopie." if dutch else "No course of action: no copy is sent."
    try:
        guidance = load_guidance(Settings().guidance_dir)
    except GuidanceError as error:
        raise _fail(str(error)) from error
    # The pseudonym plays no part in the choice; any key makes the same copy as far as the chooser can see.
    copy = project(event, decision, Pseudonymizer(b"consent-explain-course-of-action"))
    course = guidance.choose(decision.recipient, copy)
    if course is None:
        return "Er hoort geen handelingskader bij deze kopie." if dutch else "No course of action applies to this copy."
    steps = "\n".join(f"  {number}. {step}" for number, step in enumerate(course.steps, 1))
    involve = ", ".join(str(org) for org in course.involve) or "-"
    if dutch:
        return (
            f"Handelingskader {course.reference} ({course.status}): {course.title}\n{steps}\n"
            f"Betrekken: {involve}. Bron: {course.source}"
        )
    return (
        f"Course of action {course.reference} ({course.status}, in Dutch): {course.title}\n{steps}\n"
        f"Involve: {involve}. Source: {course.source}"
    )


@app.command()
def matrix(
    covenant: str | None = typer.Option(None, "--covenant", help="Only this covenant (its id, e.g. cter)."),
    covenants: Path | None = _COVENANTS,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per rule (JSON lines)."),
) -> None:
    """Who may receive which event types and fields from whom, per covenant rule."""
    policy = _policy(covenants)
    selected = [c for c in policy.covenants if covenant is None or c.id == covenant]
    if not selected:
        raise _fail(f"no covenant {covenant!r} (known: {', '.join(c.id for c in policy.covenants)})")
    rows: list[dict[str, object]] = []
    for item in selected:
        for rule in item.rules:
            conditions = []
            if rule.conditions.consent:
                conditions.append("subject consent on file")
            if rule.conditions.consent_recorded_by:
                conditions.append("consent recorded by: " + " | ".join(rule.conditions.consent_recorded_by))
            if rule.conditions.secrecy_grounds:
                conditions.append("secrecy ground: " + " | ".join(rule.conditions.secrecy_grounds))
            if rule.conditions.invited:
                conditions.append("only if the ZVH invited them to the case")
            rows.append(
                {
                    "covenant": item.ref,
                    "rule": rule.id,
                    "event types": [t.value for t in rule.event_types],
                    "from": [o.value for o in rule.senders],
                    "to": [o.value for o in rule.recipients],
                    "fields": list(rule.fields) or ["(envelope only)"],
                    "legal basis": [f"{category}: {', '.join(cites)}" for category, cites in rule.legal_basis.items()],
                    "conditions": conditions or None,
                }
            )
    print_rows(
        ("covenant", "rule", "event types", "from", "to", "fields", "legal basis", "conditions"), rows, as_json=as_json
    )
