"""The web console: a live inbox for case managers, a case board for the ZVH's process director, compliance pages.

``schakel console`` serves it (aiohttp, server-side rendered HTML). What a user may see is decided on the server by
:mod:`schakel.console.access` (pure); the Kafka reading (:mod:`schakel.console.feed`) and the lineage store are thin
wiring. See :mod:`schakel.console.web` for the security choices.
"""

__all__: list[str] = []
