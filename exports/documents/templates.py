"""The documents' wording and layout, read from ``templates/*.toml`` at run time.

A document template is a list of blocks, rendered top to bottom against a dict of facts:

* ``text`` — the wording, with ``{name}`` placeholders filled from the facts (names only: no
  attribute access, no format specs, so a template can't reach into Python objects);
* ``style`` — ``title``, ``subtitle``, ``heading``, ``body`` (the default), ``bullet``,
  ``note``, or ``table`` / ``chart`` / ``page_break`` (placed where they stand; the code
  supplies a table's rows under the block's ``table`` name and the chart's picture);
* ``when`` / ``unless`` — fact names: the block is kept when all of ``when`` are truthy and none
  of ``unless`` is;
* ``each`` — a fact holding a list of dicts: the block is written once per element, with the
  element's fields added to the facts.

So what a document says, and when it says it, is edited here without touching code; the code
computes the facts (every number from the database) and never holds a sentence. Templates are
checked when loaded: an unknown style, key or placeholder form fails at once, not mid-document.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
STYLES: Final = frozenset(
    {"title", "subtitle", "heading", "body", "bullet", "note", "table", "chart", "page_break"}
)
_BLOCK_KEYS: Final = frozenset({"text", "style", "when", "unless", "each", "table"})


class TemplateError(ValueError):
    """A template file that can't be used; the message names the file and the place."""


@dataclass(frozen=True)
class Block:
    style: str
    text: str = ""
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    each: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class Rendered:
    """One block after rendering: a style and its text (or a table / chart name)."""

    style: str
    text: str = ""
    table: str | None = None


def _load(name: str) -> dict[str, Any]:
    path = TEMPLATES / f"{name}.toml"
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TemplateError(f"{path.name}: {error}") from error


@cache
def docx_parts() -> dict[str, str]:
    """The fixed XML parts of a .docx (``templates/docx_parts.toml``)."""
    return {key: str(value) for key, value in _load("docx_parts").items()}


@cache
def vocabulary() -> dict[str, Any]:
    """Words shared by every document: directions, marks, projects, the mark rule."""
    raw = _load("vocabulary")
    _check_strings(raw, "vocabulary.toml")
    return raw


@cache
def template(name: str) -> dict[str, Any]:
    """A document's template file, its blocks checked and parsed into ``blocks``."""
    raw = _load(name)
    _check_strings({k: v for k, v in raw.items() if k != "blocks"}, f"{name}.toml")
    raw["blocks"] = tuple(
        _block(item, f"{name}.toml, block {index}")
        for index, item in enumerate(raw.get("blocks", []), 1)
    )
    return raw


def _check_strings(value: object, where: str) -> None:
    if isinstance(value, str):
        check_placeholders(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(item, f"{where}, {key}")
    elif isinstance(value, list):
        for index, item in enumerate(value, 1):
            _check_strings(item, f"{where}, {index}")


def _names(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise TemplateError(f"{where}: expected a fact name or a list of them")


def _block(raw: object, where: str) -> Block:
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: expected a table")
    unknown = set(raw) - _BLOCK_KEYS
    if unknown:
        raise TemplateError(f"{where}: unknown keys {sorted(unknown)}")
    style = raw.get("style", "body")
    if style not in STYLES:
        raise TemplateError(f"{where}: unknown style {style!r}")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise TemplateError(f"{where}: text must be a string")
    check_placeholders(text, where)
    if style == "table" and not raw.get("table"):
        raise TemplateError(f"{where}: a table block names its table")
    each = raw.get("each")
    return Block(
        style=style,
        text=text,
        when=_names(raw.get("when"), where),
        unless=_names(raw.get("unless"), where),
        each=each if isinstance(each, str) else None,
        table=raw.get("table"),
    )


def check_placeholders(text: str, where: str) -> None:
    """Placeholders are plain names: ``{schools}``; never ``{x.attr}``, ``{x[0]}``, ``{x:>3}``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateError(f"{where}: {error}") from error
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(f"{where}: placeholder {{{name}}} must be a plain name")


def fill(text: str, facts: Mapping[str, Any]) -> str:
    """``text`` with its placeholders filled; a missing fact is an error, not a blank."""
    try:
        return text.format_map(facts)
    except KeyError as error:
        raise TemplateError(f"no fact {error} for «{text[:60]}»") from None


def render(blocks: Sequence[Block], facts: Mapping[str, Any]) -> list[Rendered]:
    """The blocks that apply to ``facts``, their texts filled."""
    out: list[Rendered] = []
    for block in blocks:
        if not all(facts.get(name) for name in block.when):
            continue
        if any(facts.get(name) for name in block.unless):
            continue
        if block.each is None:
            scopes: list[Mapping[str, Any]] = [facts]
        else:
            items = facts.get(block.each) or []
            scopes = [{**facts, **item} for item in items]
        for scope in scopes:
            if block.style in ("table", "chart", "page_break"):
                out.append(Rendered(block.style, fill(block.text, scope), block.table))
            else:
                out.append(Rendered(block.style, fill(block.text, scope)))
    return out
