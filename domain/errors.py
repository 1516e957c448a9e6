"""The domain's error families; the API maps each family to one HTTP status."""

from __future__ import annotations


class DeskError(Exception):
    """Base of every error the domain and the application raise on purpose."""


class InvalidValue(DeskError, ValueError):
    """Bad input for a field: names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class RuleViolated(DeskError):
    """A command that the ticket's current state does not allow."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class TicketNotFound(DeskError, LookupError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no ticket {ticket_id}")
        self.ticket_id = ticket_id


class ConcurrencyConflict(DeskError):
    """Another writer kept changing the ticket; the command was not applied."""

    def __init__(self, ticket_id: str, attempts: int) -> None:
        super().__init__(
            f"ticket {ticket_id} changed concurrently; gave up after {attempts} attempts"
        )
        self.ticket_id = ticket_id
        self.attempts = attempts
