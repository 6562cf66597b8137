"""Domain errors raised by services and mapped to pages or JSON by the views."""
from __future__ import annotations


class DomainError(Exception):
    status = 400


class ValidationFailed(DomainError):
    """Input was invalid; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    """The signed-in person may see the object but not do this to it (a MEMBER where an ADMIN is needed)."""
    status = 403
