"""Logging for every schakel process: quiet about the Kafka clients' weather, and structured on request.

:func:`configure_logging` installs one handler on the root logger (or :func:`handler` gives it to Faust's worker,
which sets up logging itself). Its filter applies :mod:`schakel.log_noise`: transient client lines go to debug
level, a flood of "broker unreachable" lines becomes one line when it starts and one summary when it is over.

``SCHAKEL_LOG_FORMAT=json`` writes one JSON object per line: ``time``, ``level``, ``logger``, ``message``, and the
``trace_id`` and ``span_id`` of the span current when the line was logged (OpenTelemetry log correlation), so a
log line and its trace meet. *Judgement call*: an exception appears as its class and the stack's file:line
frames, without its message - a library's exception message may quote a value (pydantic does). Every message
passes :func:`schakel.log_noise.redact`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import IO, Literal

from schakel.log_noise import Noise, OutageTracker, classify, redact

__all__ = ["JsonFormatter", "QuietFilter", "configure_logging", "handler"]

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _span_ids() -> tuple[str | None, str | None]:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
        return None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current span's trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _span_ids()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["error_class"] = record.exc_info[0].__name__
            line["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(record.exc_info[2])
            ]
        return json.dumps(line, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class QuietFilter(logging.Filter):
    """Demotes transient client lines to debug and summarises broker outages (see :mod:`schakel.log_noise`)."""

    def __init__(self, target: logging.Handler, *, quiet: float = 5.0) -> None:
        super().__init__()
        self.target = target
        self.outage = OutageTracker(quiet=quiet)
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "schakel_summary", False):
            return True
        noise = classify(record.name, record.getMessage())
        if noise is None:
            return True
        if noise is Noise.TRANSIENT:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.target.level <= logging.DEBUG
        with self._lock:
            said = self.outage.observe(time.monotonic())
            if said is not None and self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="schakel-log-outage", daemon=True)
                self._watcher.start()
        if said is None:
            return False
        record.msg, record.args, record.exc_info, record.exc_text = said, None, None, None
        record.name, record.levelno, record.levelname = "schakel.kafka", logging.WARNING, "WARNING"
        return True

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            with self._lock:
                summary = self.outage.settle(time.monotonic())
                if summary is None:
                    continue
                self._watcher = None
            record = logging.LogRecord("schakel.kafka", logging.WARNING, __file__, 0, summary, None, None)
            record.schakel_summary = True
            self.target.handle(record)
            return


def handler(
    level: int | str = logging.WARNING, log_format: Literal["text", "json"] = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """The handler every schakel process logs through (standard error by default)."""
    target = logging.StreamHandler(sys.stderr if stream is None else stream)
    target.setLevel(level if isinstance(level, int) else level.upper())
    target.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter(_TEXT))
    target.addFilter(QuietFilter(target))
    return target


def configure_logging(
    level: int | str = logging.WARNING, log_format: Literal["text", "json"] = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with :func:`handler`; return it."""
    installed = handler(level, log_format, stream)
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(installed)
    root.setLevel(installed.level)
    return installed
