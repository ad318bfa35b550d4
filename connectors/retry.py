"""Retry policy of the sink runtime: exponential backoff with jitter and a maximum.

Judgement call: "full jitter" on a fraction of the delay (``jitter=0.5`` waits between 50% and 100% of the
exponential step), so that sinks that failed together do not retry in lock-step, while the delay still grows.
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Backoff", "RetryPolicy"]


class RetryPolicy(BaseModel):
    """How often and how patiently the runtime retries one delivery before it dead-letters it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=8, ge=1, le=1000, description="Attempts in all, the first one included.")
    initial_backoff: float = Field(default=0.5, gt=0, le=3600, description="Seconds before the second attempt.")
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff: float = Field(default=30.0, gt=0, le=3600, description="Cap on one wait, in seconds.")
    jitter: float = Field(default=0.5, ge=0.0, le=1.0, description="Fraction of each wait that is randomised.")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        draw = (rng or random).random()
        return self._step(attempt) * (1.0 - self.jitter * draw)

    def _step(self, attempt: int) -> float:
        """The exponential step, capped. The power is never raised past the exponent where the cap is reached: a
        source retries a record for as long as it fails, and ``2.0 ** 1024`` overflows (the record was then no longer
        put to wait)."""
        exponent = max(0, attempt - 1)
        if self.multiplier > 1.0:
            ratio = self.max_backoff / self.initial_backoff
            exponent = min(exponent, math.ceil(math.log(ratio, self.multiplier)) + 1 if ratio > 1.0 else 0)
        return min(self.max_backoff, self.initial_backoff * self.multiplier**exponent)

    def gives_up_after(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts

    def worst_case_seconds(self) -> float:
        """The longest the runtime can wait for one copy (no jitter), e.g. to size max.poll.interval.ms."""
        return sum(self._step(attempt) for attempt in range(1, self.max_attempts))


class Backoff:
    """Per-record waits for a source whose record could not be settled (the broker did not take it): the record is
    offered again only after an exponentially growing wait, so a record that keeps failing never spins the loop."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy(initial_backoff=0.5, max_backoff=60.0)
        self._attempts: dict[object, int] = {}

    def failed(self, key: object) -> float:
        """Record one more failure of ``key``; the seconds to wait before offering it again."""
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        return self.policy.backoff(attempt)

    def settled(self, key: object) -> None:
        self._attempts.pop(key, None)
