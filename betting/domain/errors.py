"""Errors of the domain core.

Operating errors (a refused command, a bad value from outside) are `DomainError`s and are
handled by whoever applied the event. A broken invariant is a programmer error: `invariant()`
raises `InvariantViolation`, which no handler catches, so the process stops instead of
corrupting money. Unlike `assert`, it survives `python -O`.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command or value the domain refuses; state is left unchanged."""


class InvalidValue(DomainError):
    """A value that is malformed or out of range (an odds string off the ladder, say)."""


class IllegalTransition(DomainError):
    """A race command that its current state does not allow."""

    def __init__(self, race_id: str, state: str, command: str) -> None:
        super().__init__(f"race {race_id}: cannot {command} when {state}")
        self.race_id = race_id
        self.state = state
        self.command = command


class InvariantViolation(Exception):
    """A programmer error: the process must stop."""


def invariant(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)
