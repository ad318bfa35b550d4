"""The sink's idempotency store: one small SQLite file per sink, under the data dir.

The key is the event - its sender, id and subject (:func:`schakel.lineage.event_key`: an event is its source and its
id, so two partners that chose the same id are two events) - and the recipient. The runtime asks
:meth:`DeliveryLedger.delivered` before every delivery and records the outcome after it; a copy already delivered is
dropped (a re-delivery after a crash, a rebalance, a resend). A dead-lettered copy is recorded too, but does not count
as delivered - a resend must get through.

Judgement calls: WAL with ``synchronous=NORMAL`` survives a killed process (the case the runtime must handle) though
not a power cut of the host; the crash window between the partner's acknowledgement and the ledger write is covered by
passing the idempotency key to the partner system (HTTP header, file name, table key). SQLite calls are made on the
event loop: each is a sub-millisecond local write, cheaper than a thread hop.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["DeliveryLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    event_key  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    at         TEXT NOT NULL,
    receipt    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (event_key, recipient)
)
"""


class DeliveryLedger:
    """Which copies a sink has delivered (or dead-lettered)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def delivered(self, event_key: str, recipient: str) -> bool:
        """True when this copy already reached the partner system."""
        row = self._db.execute(
            "SELECT 1 FROM copies WHERE event_key = ? AND recipient = ? AND outcome = 'delivered'",
            (event_key, recipient),
        ).fetchone()
        return row is not None

    def record(self, event_key: str, recipient: str, outcome: str, attempts: int) -> None:
        """Remember the outcome (``delivered`` or ``dead-lettered``); a later delivery overwrites a dead-letter."""
        self._db.execute(
            "INSERT INTO copies (event_key, recipient, outcome, attempts, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (event_key, recipient) DO UPDATE SET outcome = excluded.outcome, "
            "attempts = excluded.attempts, at = excluded.at, receipt = 0 WHERE copies.outcome != 'delivered'",
            (event_key, recipient, outcome, attempts, datetime.now(UTC).isoformat()),
        )

    def mark_receipt(self, event_key: str, recipient: str) -> None:
        """Remember that the receipt for the recorded outcome is on the sink's receipts topic."""
        self._db.execute("UPDATE copies SET receipt = 1 WHERE event_key = ? AND recipient = ?", (event_key, recipient))

    def receipt_written(self, event_key: str, recipient: str) -> bool:
        """True when the receipt for this copy's recorded outcome was written."""
        row = self._db.execute(
            "SELECT receipt FROM copies WHERE event_key = ? AND recipient = ?", (event_key, recipient)
        ).fetchone()
        return bool(row and row[0])

    def counts(self) -> dict[str, int]:
        """Copies per outcome, for ``schakel connectors list`` and health."""
        rows = self._db.execute("SELECT outcome, COUNT(*) FROM copies GROUP BY outcome").fetchall()
        return {str(outcome): int(count) for outcome, count in rows}

    def close(self) -> None:
        self._db.close()
