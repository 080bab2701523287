"""Errors gosvc reports as one line on stderr, each with the exit code it stands for."""

from __future__ import annotations

from gosvc import EXIT_BAD_INPUT, EXIT_CHECK_FAILED


class GosvcError(Exception):
    """A failure gosvc reports as one line, no traceback. The message says what to do."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class InputError(GosvcError):
    """Bad input from the user (an answer, a path, an option): nothing was written.

    The message names what was wrong and the rule it broke. The only error with exit code 2.
    """

    exit_code = EXIT_BAD_INPUT


class RenderError(GosvcError):
    """Valid answers failed to render: a defect of the template, exit code 1."""


class ToolMissingError(GosvcError):
    """A program gosvc needs (git, go, make) is not on PATH: exit code 1."""
