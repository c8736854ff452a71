"""Exceptions raised by postctl's library code; the CLI and web layers translate them."""

from __future__ import annotations


class PostctlError(Exception):
    """Base class for errors a user can act on."""


class NotFoundError(PostctlError):
    """The requested row does not exist."""


class DatabaseError(PostctlError):
    """The database could not be reached or used."""


class ConfigError(DatabaseError):
    """A database setting is malformed or names what cannot be used.

    `setting` names the variable or option at fault where the raiser knows it;
    the CLI names it otherwise.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        self.setting = setting
        self.reason = message
        super().__init__(f"{setting}: {message}" if setting else message)


class FixtureError(PostctlError):
    """A fixture file holds data that cannot be loaded."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class RefusedError(PostctlError):
    """A destructive command refused to run; nothing was changed."""
