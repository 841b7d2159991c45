"""Domain exceptions: raised by query functions, translated for the user by the bot's handlers."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user's action can cause; `code` is stable and translatable."""

    code = "domain_error"

    def __init__(self, code: str | None = None, **params: object) -> None:
        self.code = code or self.code
        self.params = params
        super().__init__(self.code)


class AccessDenied(DomainError):
    code = "access_denied"


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid_input"


class InviteError(DomainError):
    """code: unknown | expired | used_up | revoked | already_registered."""

    code = "invite_unknown"
