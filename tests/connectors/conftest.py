"""Fixtures of the connectors tests: the contract kit's broker is the session's real broker."""

from __future__ import annotations
