"""``schakel demo``: the whole hub at work on this machine, with a simulated system for every partner.

It starts (on the broker at ``SCHAKEL_KAFKA_BOOTSTRAP``) a hub worker, the lineage ingest into the lineage store,
and all eight partner connectors with their simulated partner systems, then plays realistic scenarios:

- CTER, the person-centred approach: police signal -> referral by the municipality's safety domain -> the ZVH's
  triage -> GGZ's consent and contribution -> the agreed plan -> probation's feedback;
- an LVB signal from the social domain, with the person's consent;
- a money-mule signal from the police, with the account number.

Each step is submitted by a partner system in that partner's own words; what is shown comes back from the running
system: the hub's decision per candidate recipient (from the ``lineage`` topic: outcome, fields sent and withheld,
reasons), and the sink connector's delivery receipt once the partner system acknowledged the copy. ``--once`` plays
the scenarios once, prints a summary and exits 0 when every permitted copy reached its partner system; without it,
the scenarios are played again with new people until Ctrl-C.

Without ``--once`` the web console runs too (``schakel console`` on ``console_port``, 0: none), with demo accounts in
an accounts file of the demo's own: a case manager per organisation (``<org>-cm``), the ZVH's process director
(``zvh-procesregisseur``) and a compliance officer (``zvh-compliance``), all with one password made for this run and
printed with the address. ``--once`` is the end-to-end check (``tests/deploy``) and leaves the console out; the
console has its own browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from schakel.connectors.presence import announce, withdraw
from schakel.connectors.running import RunningConnector, start_simulated_partners
from schakel.consent import load_policy
from schakel.lineage import LineageRecord, RecordKind, records_from_bytes
from schakel.schemas import Organisation
from schakel.schemas.examples import SYNTHETIC_NAMES, synthetic_bsn
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HubTopics

__all__ = ["Demo", "Step", "scenarios"]

_WAIT = 45.0


@dataclass(frozen=True)
class Step:
    """One record a partner system emits, in the partner's own words."""

    partner: Organisation
    word: str
    fields: dict[str, Any]
    story: str


def scenarios(rng: random.Random) -> list[tuple[str, list[Step]]]:
    """The three themes, each about a new (synthetic) person."""

    def person(theme: str) -> dict[str, Any]:
        return {
            "bsn": synthetic_bsn(rng),
            "naam": rng.choice(SYNTHETIC_NAMES),
            "geboortedatum": f"{rng.randrange(1990, 2009)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
            "zaaknummer": f"ZVH-2026-{rng.randrange(10000):04d}",
            "zaakuitgever": "zvh",  # the ZVH's case number: every partner names it in the ZVH's namespace
            "thema": theme,
        }

    cter, lvb, mule = person("cter"), person("lvb"), person("geldezel")
    police, safety, zvh = Organisation.POLITIE, Organisation.GEMEENTE_VEILIGHEID, Organisation.ZVH
    return [
        (
            "CTER - person-centred approach",
            [
                Step(
                    police,
                    "registratie",
                    {
                        **cter,
                        "gedragsomschrijving": "Deelt oproepen tot geweld in besloten groepen.",
                        "ideologie": "Jihadistisch gedachtegoed.",
                        "urgentie": "hoog",
                        "rekeningnummer": None,
                        "fraudevorm": None,
                    },
                    "the police register worrying behaviour",
                ),
                Step(safety, "aanmelding", dict(cter), "the municipality's safety domain refers the case"),
                Step(
                    zvh,
                    "triage",
                    {**cter, "aan": "gemeente-veiligheid"},
                    "the ZVH accepts the case and tells the referrer",
                ),
                Step(
                    Organisation.GGZ,
                    "toestemming",
                    {**cter, "wijziging": "gegeven", "ontvangers": "zvh;gemeente-veiligheid"},
                    "the client consents to sharing with the ZVH and the safety domain",
                ),
                Step(Organisation.GGZ, "bijdrage", dict(cter), "GGZ contributes, on the client's consent"),
                Step(
                    zvh,
                    "casusafspraken",
                    {**cter, "aan": "gemeente-veiligheid;politie;om;reclassering;ggz"},
                    "the case consultation agrees a plan with the partners at the table",
                ),
                Step(Organisation.RECLASSERING, "terugkoppeling", dict(cter), "probation reports on its action"),
            ],
        ),
        (
            "LVB - criminal exploitation",
            [
                Step(
                    Organisation.GEMEENTE_SOCIAAL,
                    "toestemming",
                    {**lvb, "wijziging": "gegeven", "ontvangers": "politie;zvh"},
                    "the person consents to the police and the ZVH being told",
                ),
                Step(Organisation.GEMEENTE_SOCIAAL, "zorgsignaal", dict(lvb), "the social domain signals exploitation"),
                Step(
                    police,
                    "registratie",
                    {
                        **lvb,
                        "gedragsomschrijving": "Aangehouden als koerier; lijkt gestuurd door anderen.",
                        "urgentie": "normaal",
                        "rekeningnummer": None,
                        "fraudevorm": None,
                    },
                    "the police register the same person: a second partner, so a bundle forms on the ZVH's agenda",
                ),
            ],
        ),
        (
            "Money mules",
            [Step(police, "registratie", dict(mule), "the police find an account lent to criminals")],
        ),
    ]


@dataclass
class _Watch:
    """Lineage records by event id, as they arrive."""

    decisions: dict[str, list[LineageRecord]] = field(default_factory=lambda: defaultdict(list))
    receipts: dict[str, list[LineageRecord]] = field(default_factory=lambda: defaultdict(list))

    def add(self, record: LineageRecord) -> None:
        if record.kind is RecordKind.LINK:
            return  # two pseudonyms of one person: no step of the scenario
        bucket = self.decisions if record.kind is RecordKind.DECISION else self.receipts
        if all(seen.record_id != record.record_id for seen in bucket[str(record.event_id)]):
            bucket[str(record.event_id)].append(record)


class Demo:
    """The running system: hub worker, lineage ingest, connectors with their simulated partner systems."""

    def __init__(self, settings: Settings, console: Console, *, console_port: int = 0) -> None:
        self.settings = settings
        self.console_port = console_port
        self.console = console
        self.topics = HubTopics.of(settings)
        self.root = settings.data_dir / "demo"
        self.watch = _Watch()
        self.connectors: dict[Organisation, RunningConnector] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.totals: Counter[str] = Counter()
        self.policy = load_policy(settings.covenants_dir)
        self.missing: list[str] = []
        self.bundles_shown: set[str] = set()
        self.received_before: dict[str, int] = {}
        self.announced: list[Path] = []

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "schakel.cli", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        )

    async def _start_console(self) -> None:
        """The web console with fresh demo accounts (one password for this run), and where to find it."""
        from schakel.console.access import Role
        from schakel.console.accounts import AccountsFile

        path = self.root / "console-accounts.json"
        path.unlink(missing_ok=True)
        accounts = AccountsFile(path)
        password = secrets.token_urlsafe(12)
        demo_accounts = [(f"{org}-cm", org, [Role.CASE_MANAGER]) for org in Organisation]
        demo_accounts += [
            ("zvh-procesregisseur", Organisation.ZVH, [Role.PROCESS_DIRECTOR]),
            ("zvh-compliance", Organisation.ZVH, [Role.COMPLIANCE]),
        ]
        for username, org, roles in demo_accounts:
            await asyncio.to_thread(accounts.add, username, org, roles, password)
        self._spawn("console", "console", "--port", str(self.console_port), env={"SCHAKEL_CONSOLE_ACCOUNTS": str(path)})
        self.console.print(
            f"[bold]console[/bold]: http://127.0.0.1:{self.console_port}  accounts: "
            + ", ".join(name for name, _, _ in demo_accounts)
            + f"  password: {password}",
            highlight=False,
        )

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(provision, self.settings)
        self._spawn("hub", "run")
        self._spawn("lineage-ingest", "lineage", "ingest", "--follow")
        started = await start_simulated_partners(
            self.settings, self.root / "partners", [org.value for org in Organisation], metrics_port=0
        )
        self.connectors = {Organisation(name): running for name, running in started.items()}
        # Like `schakel connectors run`: each connector's /healthz is announced for `schakel status`.
        self.announced = [
            announce(self.settings, name, running.connector.organisation, running.metrics_port)
            for name, running in started.items()
            if running.metrics_port is not None
        ]
        self.received_before = self._received()
        if self.console_port:
            await self._start_console()
        self.console.print(
            f"[bold]schakel demo[/bold]: hub worker, lineage ingest and {len(self.connectors)} partner connectors "
            f"running on {self.settings.kafka_bootstrap} (logs in {self.root})"
        )

    async def stop(self) -> None:
        for path in self.announced:
            withdraw(path)
        for running in self.connectors.values():
            with contextlib.suppress(Exception):
                await running.stop()
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    async def follow_lineage(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics.lineage_sources(),  # the hub's decisions and the sinks' receipts
            **self.settings.kafka_client_config(ADMIN),  # the demo's own view of every decision
            group_id=f"schakel-demo-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        for lineage in records_from_bytes(record.value):  # the hub packs an event's records
                            self.watch.add(lineage)
        finally:
            await consumer.stop()

    async def play(self, title: str, steps: list[Step]) -> None:
        self.console.rule(f"[bold]{title}")
        for step in steps:
            await self._play(step)

    async def _play(self, step: Step) -> None:
        partner = self.connectors[step.partner].simulation
        assert partner is not None
        record = partner.example(step.word, **step.fields)
        submission = await partner.submit(record)
        self.totals["sent"] += 1
        if not submission.accepted:
            self.console.print(f"[red]{step.partner} could not submit {step.word}: {submission.reason}")
            self.missing.append(f"{step.partner} {step.word}")
            return
        event = partner.mapping.to_event(record)
        event_id = submission.event_id or str(event.id)
        candidates = len(self.policy.candidates(event, datetime.now(UTC)))
        decisions = await self._decisions(event_id, candidates) if candidates else []
        expected = {record.recipient for record in decisions if record.outcome != "deny"}
        receipts = await self._receipts(event_id, expected)
        self._show(step, event_id, decisions, receipts, candidates)
        self._show_guidance(event_id, receipts)
        await self._show_bundles()

    async def _decisions(self, event_id: str, candidates: int) -> list[LineageRecord]:
        """The hub's decisions for one event: one per candidate recipient, as the policy names them."""
        deadline = time.monotonic() + _WAIT
        while len(self.watch.decisions[event_id]) < candidates and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return sorted(self.watch.decisions[event_id], key=lambda record: record.recipient)

    async def _receipts(self, event_id: str, expected: set[str]) -> dict[str, LineageRecord]:
        deadline = time.monotonic() + _WAIT
        while time.monotonic() < deadline:
            receipts = {record.recipient: record for record in self.watch.receipts[event_id]}
            if expected <= receipts.keys():
                return receipts
            await asyncio.sleep(0.2)
        return {record.recipient: record for record in self.watch.receipts[event_id]}

    def _show(
        self,
        step: Step,
        event_id: str,
        decisions: list[LineageRecord],
        receipts: dict[str, LineageRecord],
        candidates: int,
    ) -> None:
        kind = decisions[0].event_type if decisions else "event"
        self.console.print(
            f"\n[bold cyan]{step.partner}[/bold cyan] sends [bold]{step.word}[/bold] -> {kind} "
            f"[dim]{event_id[:8]}[/dim]: {step.story}"
        )
        table = Table(show_edge=False, pad_edge=False, box=None)
        for column in ("recipient", "decision", "sent", "withheld", "why", "delivered"):
            table.add_column(column, overflow="fold")
        for record in decisions:
            receipt = receipts.get(record.recipient)
            colour = {"permit": "green", "partial": "yellow", "deny": "red"}.get(record.outcome or "", "white")
            delivered = "-" if record.outcome == "deny" else ("[green]yes[/green]" if receipt else "[red]no[/red]")
            table.add_row(
                record.recipient,
                f"[{colour}]{record.outcome}[/{colour}]",
                f"{len(record.fields_sent)} fields",
                ", ".join(_short(name) for name in record.fields_withheld) or "-",
                ", ".join(reason for reason in record.reasons if reason != "permitted") or "-",
                delivered,
            )
            self.totals[str(record.outcome)] += 1
            if record.outcome != "deny":
                self.totals["delivered" if receipt else "not delivered"] += 1
                if not receipt:
                    self.missing.append(f"{event_id[:8]} -> {record.recipient}")
        if len(decisions) < candidates:
            self.missing.append(f"{event_id[:8]}: {len(decisions)} of {candidates} decisions")
        if not candidates:
            self.console.print("  no partner may receive this; the hub keeps it (consent state) and delivers nothing")
            return
        if not decisions:
            self.console.print(
                f"  [yellow]the hub has not decided within {_WAIT:.0f} s[/yellow] (it may still be working through "
                "records an earlier run left on the topics; `schakel status` shows its lag)"
            )
            return
        self.console.print(table)
        covenants = sorted({f"{r.covenant_id} rule {r.rule}" for r in decisions if r.covenant_id and r.rule})
        self.console.print(
            f"  [dim]{'; '.join(covenants) or 'no covenant applies'} - trace {decisions[0].trace_id}; "
            f"schakel lineage trace {event_id}[/dim]"
        )

    def _show_guidance(self, event_id: str, receipts: dict[str, LineageRecord]) -> None:
        """The course of action each partner system received with this event (issue 15), as its document holds it."""
        for org, running in self.connectors.items():
            if str(org) not in receipts or running.simulation is None:
                continue
            for document in running.simulation.received():
                course = document.get("handelingskader") if document.get("event_id") == event_id else None
                if course:
                    self.console.print(
                        f"  [magenta]course of action for {org}[/magenta]: {course.get('titel', '?')} "
                        f"[dim]({course['referentie']}, {course.get('status', '?')}; "
                        f"{len(course.get('stappen', []))} steps)[/dim]"
                    )

    async def _show_bundles(self) -> None:
        """New agenda proposals (SignalBundle) the hub made for the ZVH, from the lineage."""
        await asyncio.sleep(0.5)  # the bundle's lineage record follows the event's own records
        for event_id, records in list(self.watch.decisions.items()):
            bundle = next((r for r in records if r.event_type == "SignalBundle"), None)
            if bundle is None or event_id in self.bundles_shown:
                continue
            self.bundles_shown.add(event_id)
            self.console.print(
                f"  [bold magenta]ZVH agenda[/bold magenta]: SignalBundle [dim]{event_id[:8]}[/dim] "
                f"({', '.join(bundle.reasons)}) to the ZVH only [dim]- schakel lineage trace {event_id}[/dim]"
            )

    def _received(self) -> dict[str, int]:
        """How many copies each simulated partner system holds (its state outlives a run)."""
        return {
            str(org): len(running.simulation.received())
            for org, running in self.connectors.items()
            if running.simulation is not None
        }

    def summary(self) -> bool:
        """Print the totals of this run; True when every permitted copy reached its partner system."""
        self.console.rule("[bold]summary")
        received = {org: count - self.received_before.get(org, 0) for org, count in self._received().items()}
        self.console.print(
            f"events sent {self.totals['sent']}; decisions: permit {self.totals['permit']}, "
            f"partial {self.totals['partial']}, deny {self.totals['deny']}; copies delivered "
            f"{self.totals['delivered']}, not delivered {self.totals['not delivered']}"
        )
        self.console.print(
            "received by each partner system in this run: " + ", ".join(f"{k} {v}" for k, v in received.items())
        )
        if self.missing:
            self.console.print(f"[red]missing: {'; '.join(self.missing)}")
        return not self.missing and self.totals["delivered"] > 0


def _short(field_name: str) -> str:
    return field_name.removeprefix("subject.")


async def run_demo(settings: Settings, *, once: bool, seed: int | None = None, console_port: int = 0) -> bool:
    """Start everything, play the scenarios (once, or until cancelled), stop everything."""
    console = Console()
    demo = Demo(settings, console, console_port=0 if once else console_port)
    rng = random.Random(seed)
    watcher: asyncio.Task[None] | None = None
    # SIGTERM (a service manager, `kill`) stops the demo as Ctrl-C does: the hub worker, the ingest and the
    # connectors are stopped too, and each connector's presence file is removed, instead of being left running.
    playing = asyncio.current_task()
    if playing is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, playing.cancel)
    try:
        await demo.start()
        watcher = asyncio.create_task(demo.follow_lineage())
        await asyncio.sleep(1.0)
        while True:
            for title, steps in scenarios(rng):
                await demo.play(title, steps)
            if once:
                return demo.summary()
            await asyncio.sleep(3.0)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await demo.stop()


def main(settings: Settings, *, once: bool, console_port: int = 0) -> int:
    try:
        ok = asyncio.run(run_demo(settings, once=once, console_port=console_port))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    return 0 if ok else 1
