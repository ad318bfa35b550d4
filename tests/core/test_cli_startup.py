"""`schakel --help` and each group's `--help` load none of the hub's heavy clients (the CLI imports them lazily).

The commands import the Kafka clients, Faust, aiohttp, reportlab, OpenTelemetry and the rest inside the functions
that use them, so that an operator's `schakel --help` (and every `schakel` subprocess the tests start) does not wait
for them. The time itself is measured by `python -m tests.bench cli`, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# What the help of the whole CLI may not load: messaging, Faust, HTTP, PDF, tracing, metrics, the database client,
# the console's templates and password hashing.
HEAVY = (
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "aiohttp",
    "reportlab",
    "opentelemetry",
    "prometheus_client",
    "psycopg",
    "uvloop",
    "jinja2",
    "argon2",
)

# Every group and command, as `--help` lists them.
COMMANDS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): (
        "kafka",
        "schemas",
        "consent",
        "connectors",
        "lineage",
        "console",
        "retention",
        "subject",
        "run",
        "send",
        "tail",
        "dlq",
        "topics",
        "status",
        "demo",
    ),
    ("kafka",): ("up", "status", "down", "users", "acls"),
    ("kafka", "users"): ("add", "list", "remove"),
    ("kafka", "acls"): ("apply", "show"),
    ("schemas",): ("list", "show", "check", "release", "validate"),
    ("consent",): ("decide", "explain", "matrix"),
    ("connectors",): ("list", "new", "run", "resend"),
    ("lineage",): ("ingest", "verify", "prune", "trace", "subject", "disclosures", "export", "scan", "serve"),
    ("console",): ("users",),
    ("console", "users"): ("add", "passwd", "remove"),
    ("retention",): ("status", "run", "rekey"),
    ("subject",): ("requests", "report"),
}

_PROBE = """
import json, sys
from typer.testing import CliRunner
from schakel.cli import app

helps = {}
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="schakel")
    helps[" ".join(args)] = [result.exit_code, result.output]
heavy = sorted({name for name in sys.modules if name.split(".")[0] in json.loads(sys.argv[2])})
print(json.dumps({"helps": helps, "heavy": heavy}))
"""


def test_the_help_of_every_group_loads_no_heavy_client_and_lists_every_command() -> None:
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    groups = json.dumps([list(args) for args in COMMANDS])
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, groups, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout)
    assert found["heavy"] == []
    for args, commands in COMMANDS.items():
        exit_code, output = found["helps"][" ".join(args)]
        assert exit_code == 0, output
        listed = {line.strip(" │|").split()[0] for line in output.splitlines() if line.strip(" │|")}
        missing = [command for command in commands if command not in listed]
        assert not missing, f"`schakel {' '.join(args)} --help` does not list {missing}:\n{output}"


def test_the_runtime_and_the_pdf_letter_are_still_exported_and_loaded_only_when_used() -> None:
    # A partner's package or a compliance script that imports them from the package keeps working; importing the
    # package alone does not load what they need.
    script = (
        "import sys, json\n"
        "import schakel.connectors, schakel.lineage\n"
        "before = sorted(n for n in ('aiokafka', 'aiohttp', 'reportlab') if n in sys.modules)\n"
        "from schakel.connectors import SinkRunner, SourceRunner, resend, start_simulated_partners\n"
        "from schakel.lineage import render_access_report_pdf\n"
        "from schakel.connectors.sink_runner import SinkRunner as Sink\n"
        "from schakel.lineage.report_pdf import render_access_report_pdf as pdf\n"
        "try:\n"
        "    schakel.connectors.NoSuchRunner\n"
        "    missing = False\n"
        "except AttributeError:\n"
        "    missing = True\n"
        "print(json.dumps({'before': before, 'same': SinkRunner is Sink and render_access_report_pdf is pdf,\n"
        "    'after': sorted(n for n in ('aiokafka', 'reportlab') if n in sys.modules), 'missing': missing}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout) == {"before": [], "same": True, "after": ["aiokafka", "reportlab"], "missing": True}
