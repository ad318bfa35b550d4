"""The root of every error schakel raises.

Each package derives its own errors from :class:`SchakelError`, so a caller can catch everything schakel raises
with one ``except``. Messages carry the facts a reader needs (organisation, event id, topic and offset, file and
rule) and never personal data: no BSN, name or free text about a person.
"""

__all__ = ["SchakelError"]


class SchakelError(Exception):
    """Base class of all schakel errors."""
