"""Which client-library log lines are noise, how a broker outage is summarised, and what a log line may not say.

Pure: no logging handlers, no clock (times are passed in), no I/O. :mod:`schakel.logs` wires it into ``logging``.

1. *Transient* lines are the Kafka clients' normal weather: a partition leader or group coordinator moving (during
   start-up, a rebalance, a broker restart). They are logged at debug level. *Why*: the clients retry them by
   themselves and nothing is lost; an operator who sees them at WARNING cannot tell them from a real failure.
2. *Unreachable* lines ("Unable connect to node", "Unable to update metadata", connection refused ...) come in
   floods while a broker is down: a worker wrote 1,067 of them in 10 s. An :class:`OutageTracker` turns a flood into
   two lines: one when it starts ("broker unreachable, retrying") and one when it has been quiet for a while ("was
   unreachable for N s; M client messages suppressed"). *Why*: the operator learns that, and how long, once.
3. :func:`redact` blanks every nine-digit number that passes the BSN 11-test, wherever it stands in a line. *Why*:
   a library may format a key or a value into its message; a structured log must never carry a personal value,
   so the last line of defence is applied to every line, not only ours. Names cannot be recognised this way: the
   hub's own code never logs them, and the JSON form leaves exception messages out (see :mod:`schakel.logs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Noise", "OutageTracker", "classify", "redact"]

_CLIENT_LOGGERS = ("aiokafka", "kafka", "faust", "mode")

_UNREACHABLE = re.compile(
    r"Unable connect to|Unable to update metadata|Unable to request metadata|connect attempt to .* failed"
    r"|Connection refused|KafkaConnectionError|NodeNotReady|Connection at .* closed|Closing connection.*error"
    r"|Failed to connect|socket disconnected|NoBrokersAvailable|Bootstrap .* not ready|Unable to bootstrap",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"NotLeaderForPartition|NotLeaderOrFollower|LeaderNotAvailable|NotCoordinator|CoordinatorNotAvailable"
    r"|CoordinatorLoadInProgress|GroupCoordinatorNotAvailable|coordinator .*(dead|unknown|changed)"
    r"|RebalanceInProgress|Heartbeat failed|Failed fetch offsets|OffsetCommit failed.*(Rebalance|coordinator)"
    r"|UnknownMemberId|Marking the coordinator dead|Topic .* not found in cluster metadata"
    r"|Unable to decode member_(metadata|assignment)"
    r"|ran for .* threshold\)\. It is blocking the event loop",  # kafka-python timing its own tasks on a busy machine
    re.IGNORECASE,
)
_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")


class Noise(Enum):
    """What a log line from a client library is."""

    TRANSIENT = "transient"
    UNREACHABLE = "unreachable"


def classify(logger: str, message: str) -> Noise | None:
    """``Noise`` for a Kafka client's transient or broker-unreachable line, None for anything worth showing."""
    if not logger.startswith(_CLIENT_LOGGERS):
        return None
    if _UNREACHABLE.search(message):
        return Noise.UNREACHABLE
    if _TRANSIENT.search(message):
        return Noise.TRANSIENT
    return None


@dataclass
class OutageTracker:
    """Counts a flood of "unreachable" lines; says when it starts and, once quiet for ``quiet`` s, how long it was."""

    quiet: float = 5.0
    started: float | None = None
    last: float = 0.0
    suppressed: int = 0

    @property
    def ongoing(self) -> bool:
        return self.started is not None

    def observe(self, now: float) -> str | None:
        """One more unreachable line at ``now``; the line to show instead when it starts an outage."""
        self.last = now
        if self.started is None:
            self.started = now
            self.suppressed = 0
            return "Kafka broker unreachable; the clients retry (their messages are counted, not shown)"
        self.suppressed += 1
        return None

    def settle(self, now: float) -> str | None:
        """The summary once the outage has been quiet for ``quiet`` seconds (and the tracker is reset), else None."""
        if self.started is None or now - self.last < self.quiet:
            return None
        lasted = self.last - self.started
        suppressed = self.suppressed
        self.started, self.suppressed = None, 0
        return f"Kafka broker was unreachable for {lasted:.0f} s; {suppressed} client messages suppressed"


def _is_bsn(digits: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


def redact(text: str) -> str:
    """``text`` with every nine-digit number that passes the BSN 11-test replaced by ``[bsn]``."""
    return _NINE_DIGITS.sub(lambda m: "[bsn]" if _is_bsn(m.group()) else m.group(), text)
