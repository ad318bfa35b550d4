"""Fixtures of the consent tests."""

from __future__ import annotations

import pytest

from schakel.consent import Policy, load_policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The shipped covenants, compiled."""
    return load_policy()
