"""What ``schakel status`` knows, what it counts as wrong, and the rows it prints. Pure: the facts come in.

:mod:`schakel.status` gathers the facts (broker, consumer groups, topics, covenants, lineage store, connectors);
:func:`problems` judges them and :func:`rows` lays them out as one table (part, item, state, detail), so a terminal,
a pipe and ``--json`` show the same thing.

What counts as wrong (exit code 1), each with what to do about it:

1. the broker does not answer, or does not answer the questions about groups and topics;
2. no hub worker is a member of the hub's consumer group;
3. the covenants do not load, or none is in force;
4. the lineage store cannot be opened; or the lineage topics hold records the store has not ingested while no
   ``lineage ingest`` runs (its consumer group has no member);
5. a connector that announced itself is gone (its process ended without a clean stop), or its ``/healthz`` says
   down or does not answer.

*Judgement calls*: lag and recent dead letters are shown, not judged - a backlog right after a burst or a start is
normal, and a dead letter is a recorded, expected outcome of a bad record; what is "too much" differs per network,
so a monitoring system with its own thresholds should read ``--json``. A connector that was never started is not
missing: status knows only the connectors that run (or ran) on this machine's data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Broker", "ConnectorHealth", "Covenant", "Group", "Lineage", "Problem", "Status", "problems", "rows"]


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    answering: bool
    nodes: list[str] = field(default_factory=list)
    """``id host:port`` per broker node."""
    version: str | None = None
    controller: int | None = None


@dataclass(frozen=True)
class Group:
    """A consumer group: its members (client ids and hosts) and its lag per topic (None: nothing committed yet)."""

    name: str
    members: list[str] = field(default_factory=list)
    lag: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Covenant:
    ref: str
    in_force: bool
    validity: str


@dataclass(frozen=True)
class Lineage:
    store: str
    records: int | None = None
    heads: dict[str, str] = field(default_factory=dict)
    """Per chain: ``<records> records, last hash <hash>``."""
    error: str | None = None


@dataclass(frozen=True)
class ConnectorHealth:
    name: str
    organisation: str
    state: str
    """``up``, ``down`` (``/healthz`` says so), ``unreachable`` (no answer) or ``stopped`` (its process is gone)."""
    detail: str = ""


@dataclass(frozen=True)
class Status:
    """Everything ``schakel status`` gathered."""

    data_dir: str
    broker: Broker
    hub: Group | None = None
    ingest: Group | None = None
    dead_letters_total: int | None = None
    dead_letters_last_hour: int | None = None
    covenants: list[Covenant] = field(default_factory=list)
    covenant_error: str | None = None
    lineage: Lineage | None = None
    connectors: list[ConnectorHealth] = field(default_factory=list)
    kafka_error: str | None = None
    """Set when the broker answered but the questions about groups and topics failed."""


@dataclass(frozen=True)
class Problem:
    part: str
    what: str
    fix: str


def problems(status: Status) -> list[Problem]:
    """What is wrong, in the order of the module docstring."""
    found: list[Problem] = []
    if not status.broker.answering:
        found.append(
            Problem("broker", f"no Kafka broker answers at {status.broker.bootstrap}", "start it: schakel kafka up")
        )
        return found
    if status.kafka_error is not None:
        found.append(Problem("broker", status.kafka_error, "run schakel status again; see the broker's log"))
    if status.hub is not None and not status.hub.members:
        found.append(Problem("hub", "no hub worker is running", "start one: schakel run"))
    if status.covenant_error is not None:
        found.append(Problem("covenants", status.covenant_error, "fix the covenant files (schakel consent matrix)"))
    elif not any(covenant.in_force for covenant in status.covenants):
        found.append(Problem("covenants", "no covenant is in force: every event is denied", "check the covenants"))
    if status.lineage is not None and status.lineage.error is not None:
        found.append(Problem("lineage", status.lineage.error, "check SCHAKEL_LINEAGE_URL and the data directory"))
    elif status.ingest is not None and not status.ingest.members and any(status.ingest.lag.values()):
        behind = sum(lag or 0 for lag in status.ingest.lag.values())
        found.append(
            Problem(
                "lineage",
                f"the lineage store is {behind} records behind the lineage topics and no ingest runs",
                "start it: schakel lineage ingest --follow",
            )
        )
    for connector in status.connectors:
        if connector.state != "up":
            found.append(
                Problem(
                    "connector",
                    f"connector {connector.name} is {connector.state}",
                    f"see its log; start it again: schakel connectors run {connector.name}",
                )
            )
    return found


def _lag(value: int | None) -> str:
    return "nothing committed" if value is None else str(value)


def rows(status: Status) -> list[dict[str, object]]:
    """The status as rows of (part, item, state, detail), problems last."""
    out: list[dict[str, object]] = []

    def row(part: str, item: str, state: object, detail: object = None) -> None:
        out.append({"part": part, "item": item, "state": state, "detail": detail})

    broker = status.broker
    row("data", "directory", "-", status.data_dir)
    row("broker", broker.bootstrap, "up" if broker.answering else "down", f"Kafka {broker.version or '?'}")
    for node in broker.nodes:
        row("broker", f"node {node}", "up", "controller" if node.split()[0] == str(broker.controller) else None)
    for name, group in (("hub", status.hub), ("lineage ingest", status.ingest)):
        if group is None:
            continue
        row(name, "workers" if name == "hub" else "members", len(group.members), group.members or None)
        for topic, lag in sorted(group.lag.items()):
            row(name, f"lag {topic}", _lag(lag))
    if status.dead_letters_total is not None:
        row("dead letters", "last hour", status.dead_letters_last_hour)
        row("dead letters", "total", status.dead_letters_total)
    for covenant in status.covenants:
        row("covenant", covenant.ref, "in force" if covenant.in_force else "not in force", covenant.validity)
    if status.lineage is not None:
        lineage = status.lineage
        row("lineage", "records", "?" if lineage.records is None else lineage.records, lineage.store)
        for chain, head in sorted(lineage.heads.items()):
            row("lineage", f"chain {chain}", "head", head)
    for connector in status.connectors:
        row("connector", connector.name, connector.state, connector.detail or connector.organisation)
    for problem in problems(status):
        row("problem", problem.part, problem.what, problem.fix)
    return out
