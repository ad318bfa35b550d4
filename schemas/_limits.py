"""The size limits of an event, defined once.

:data:`MAX_EVENT_BYTES` is the largest record (wire format header included) that any entry point accepts: the codec
refuses to decode more before it parses anything, and the connectors, the webhook and the CLI use the same figure.
*Why 512 KiB:* half of Kafka's default maximum message size (``message.max.bytes`` / ``max.request.size``, 1 MiB),
which leaves room for the headers, the hub's projected copies (never larger than the input plus a pseudonym) and a
dead letter that carries the original value with its reason headers. The typed models bound every text and list
(``_models``) so that the largest valid event stays below it; ``tests/schemas/test_limits.py`` proves that for every
type with every text at its bound, in 4-byte UTF-8 characters.
"""

from __future__ import annotations

__all__ = ["LONG_TEXT_MAX", "MAX_ACTIONS", "MAX_BUNDLED_SIGNALS", "MAX_EVENT_BYTES", "SHORT_TEXT_MAX"]

MAX_EVENT_BYTES = 512 * 1024
SHORT_TEXT_MAX = 200  # characters: names, ids, references
LONG_TEXT_MAX = 4000  # characters: free texts
MAX_ACTIONS = 24  # actions of one consultation outcome: three per partner
MAX_BUNDLED_SIGNALS = 64  # signals in one SignalBundle: the newest, when a person has more within the window
