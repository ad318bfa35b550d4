"""The built-in transports: HTTP (signed webhook in, POST out), file drop (JSON/CSV directory), database outbox."""

from schakel.connectors.transports.database import DatabaseConfig, InboxTableSink, OutboxSource
from schakel.connectors.transports.filedrop import FileDropConfig, FileDropSink, FileDropSource
from schakel.connectors.transports.http import (
    HttpPostSink,
    OutboundHttpConfig,
    WebhookConfig,
    WebhookSource,
    WebhookTls,
)

__all__ = [
    "DatabaseConfig",
    "FileDropConfig",
    "FileDropSink",
    "FileDropSource",
    "HttpPostSink",
    "InboxTableSink",
    "OutboundHttpConfig",
    "OutboxSource",
    "WebhookConfig",
    "WebhookSource",
    "WebhookTls",
]
