"""One error type for everything a user can fix: the CLI prints it as one line, no traceback."""

from __future__ import annotations


class RewardsmithError(Exception):
    """A problem the user can act on. ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UnknownName(RewardsmithError):
    """A name looked up in a registry (task, backend, LLM, state field) does not exist."""


class RewardRuntimeError(RewardsmithError):
    """The reward program failed or kept producing non-finite values while training (on any
    backend)."""
