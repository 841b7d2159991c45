"""Access rules, declared on every handler as the `access` flag and enforced in one middleware.

A handler registered without the flag is refused for everybody (fail closed), and the access
matrix test lists such handlers by name.
"""

from __future__ import annotations

from typing import Any, Final

from models.enums import Role

PUBLIC: Final = "public"
EVERY_ROLE: Final = frozenset(Role)
SCHOOL_STAFF: Final = frozenset({Role.TEACHER, Role.COORDINATOR})
OVERSIGHT: Final = frozenset({Role.CURATOR, Role.MUNICIPAL})


def allow(*roles: Role | frozenset[Role]) -> dict[str, Any]:
    """Handler flags admitting the given roles (single roles or role sets)."""
    admitted: set[Role] = set()
    for role in roles:
        admitted |= role if isinstance(role, frozenset) else {role}
    return {"access": frozenset(admitted)}


def public() -> dict[str, Any]:
    """Handler flags for what strangers may use too (/start, /help, /lang, /cancel)."""
    return {"access": PUBLIC}


def is_allowed(rule: object, role: Role | None) -> bool:
    if rule == PUBLIC:
        return True
    if isinstance(rule, frozenset):
        return role is not None and role in rule
    return False
