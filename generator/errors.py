"""The one error hierarchy of amlgen.

Every error a user can cause (bad config, invalid spec, unreachable workspace, failed operation) is an
``AmlgenError``: the CLI prints ``error: <message>`` on one line and exits with ``exit_code``. Anything else is
a bug and shows a traceback (exit code ``EXIT_TOOL_FAILURE``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1  # the input is wrong or an operation failed: config, specs, stale specs, Azure said no
EXIT_CHANGES = 2  # plan --detailed-exitcode: there are changes
EXIT_TOOL_FAILURE = 3  # amlgen itself could not do its job (unexpected exception, missing tool)
EXIT_USAGE = 64  # command-line usage error (kept apart from EXIT_CHANGES)


class AmlgenError(Exception):
    """A known error: printed as one line, no traceback."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, *, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return " ".join(text.split("\n"))


class ConfigError(AmlgenError):
    """The environment definitions are malformed, mistyped or invalid."""


class TemplateError(AmlgenError):
    """A template failed to render (undefined variable, syntax error)."""


class SpecError(AmlgenError):
    """A rendered or committed spec is invalid."""


class CheckFailed(AmlgenError):
    """Committed specs differ from a fresh render."""


class DataError(AmlgenError):
    """The dataset step failed: unreadable source, malformed rows, bad settings."""


class AzureError(AmlgenError):
    """The workspace could not be reached or an operation on it failed."""


class ToolFailure(AmlgenError):
    """amlgen could not do its job for a reason that is not the user's input."""

    exit_code = EXIT_TOOL_FAILURE


class UsageProblem(AmlgenError):
    """The command line is wrong (conflicting or missing options)."""

    exit_code = EXIT_USAGE
