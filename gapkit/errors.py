"""Error types. A ``GapkitError`` is a user or configuration error: the CLI prints its message
on one line and exits with code 2. Anything else is a crash (exit 1)."""

from __future__ import annotations


class GapkitError(Exception):
    """Bad input, bad configuration or a missing resource, explained in one line."""


class UnknownNameError(GapkitError, KeyError):
    """A name that is not in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
