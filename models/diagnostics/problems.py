"""How the questionnaire schema reports problems: several at once, located, as stable codes.

Pydantic's own errors become codes (``value_missing``, ``key_unknown``, ``type_invalid``); the
schema's validators raise the other codes with ``problem``, or with ``checked`` many at once,
alongside the errors of the value they wrap. The readers (``tables``, ``text``, ``number``)
take the document as written, for the rules that must see every item, even a malformed one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, NoReturn, TypeAlias, get_args

from pydantic import ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from models.diagnostics.definitions import CODE_RE

Loc: TypeAlias = tuple[int | str, ...]

# Pydantic's own error types; every other type is one of our codes.
_PYDANTIC_ERRORS: Final = frozenset(get_args(ErrorType))
_PYDANTIC_CODES: Final[Mapping[str, str]] = {
    "missing": "value_missing",
    "extra_forbidden": "key_unknown",
}


def problem(code: str) -> PydanticCustomError:
    """The error a validator raises for one problem with the value it checks."""
    return PydanticCustomError(code, code)


def checked(
    value: Any, handler: ValidatorFunctionWrapHandler, problems: list[tuple[Loc, str]]
) -> Any:
    """``handler(value)``, reporting ``problems`` (relative locations) with the value's own."""
    try:
        result = handler(value)
    except ValidationError as exc:
        raise_problems(problems, value, exc.errors())
    if problems:
        raise_problems(problems, value)
    return result


def raise_problems(
    problems: Iterable[tuple[Loc, str]], value: Any, errors: Iterable[ErrorDetails] = ()
) -> NoReturn:
    """Raise every problem at once; inside a validator they land under the value's path."""
    details = [
        InitErrorDetails(type=problem(code_of(e)), loc=e["loc"], input=e["input"]) for e in errors
    ]
    details += [
        InitErrorDetails(type=problem(code), loc=loc, input=value) for loc, code in problems
    ]
    raise ValidationError.from_exception_data("questionnaire", details)


def code_of(error: ErrorDetails) -> str:
    """The stable code of a validation error."""
    kind = error["type"]
    if kind not in _PYDANTIC_ERRORS:
        return kind
    return _PYDANTIC_CODES.get(kind, "type_invalid")


def location(loc: Loc, raw: Mapping[str, Any]) -> str:
    """Where pydantic's ``("questions", 3, "bands", 1)`` is: ``questions.q4.bands[1]``."""
    parts = list(loc)
    where = ""
    # Problems inside a question are easier to find by its code than by its position.
    if len(parts) > 2 and parts[0] == "questions" and isinstance(parts[1], int):
        code = text(tables(raw["questions"])[parts[1]].get("code"))
        if CODE_RE.fullmatch(code):
            where, parts = f"questions.{code}", parts[2:]
    for part in parts:
        if isinstance(part, int):
            where = f"{where}[{part}]"
        else:
            where = f"{where}.{part}" if where else part
    return where


def tables(value: object) -> list[Mapping[str, Any]]:
    """The items of a list as written; an item that is not a table reads as an empty one."""
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, Mapping) else {} for item in value]


def text(value: object) -> str:
    """A string as written, stripped; anything else reads as empty."""
    return value.strip() if isinstance(value, str) else ""


def number(value: object) -> float | None:
    """A finite number as written; anything else (a bool too) reads as None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
