"""The console's errors, under :class:`schakel.errors.SchakelError`."""

from schakel.errors import SchakelError

__all__ = ["AccountError", "ConsoleError", "SignInBusyError"]


class ConsoleError(SchakelError):
    """Base class of the console's errors."""


class AccountError(ConsoleError):
    """An accounts file or an account change is not valid (the message never holds a password)."""


class SignInBusyError(ConsoleError):
    """A sign-in was not checked: too many password checks are under way (the console answers 503, try again)."""
