"""The core tests borrow the streams tests' hub (a real ``schakel run`` worker on topics of its own)."""

from tests.streams.conftest import hub

__all__ = ["hub"]
