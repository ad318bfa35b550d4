"""The retention package's errors."""

from schakel.errors import SchakelError

__all__ = ["KeyStoreError", "RetentionError", "SealError"]


class RetentionError(SchakelError):
    """Retention or crypto-shredding cannot do what was asked."""


class SealError(RetentionError):
    """A value cannot be sealed or opened: not sealed, no live data key, or a key or place that does not match."""


class KeyStoreError(RetentionError):
    """The data-key store cannot be opened or used."""
