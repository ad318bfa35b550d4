"""The consent processor is pure (no Kafka, Faust, HTTP or database client), and no covenants means no sharing."""

from __future__ import annotations

import subprocess
import sys

from schakel.consent import ConsentState, Outcome, Policy
from schakel.schemas import EventType, Organisation

from .helpers import AT, full_event


def test_importing_the_consent_processor_loads_no_messaging_or_database_client() -> None:
    probe = (
        "import sys; import schakel.consent, schakel.consent.cli; "
        "from schakel.consent import load_policy; load_policy(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'kafka', 'aiokafka', 'faust', 'mode', 'aiohttp', 'psycopg'} or m.startswith('schakel.streams')); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == ""


def test_a_policy_without_covenants_denies_everything() -> None:
    policy = Policy([])
    event = full_event(EventType.SIGNAL, Organisation.POLITIE, "cter-person-centred")
    assert policy.candidates(event, AT) == ()
    decisions = [policy.decide(event, r, ConsentState(), AT) for r in Organisation]
    assert all(d.outcome is Outcome.DENY and d.fields_sent == () for d in decisions)
