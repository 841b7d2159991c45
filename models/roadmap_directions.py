"""Which direction a roadmap activity belongs to: named in the file, or suggested by its words.

The words are data, not code: ``roadmap_directions.toml`` next to this module (its header says
how they are written and weighed). They are loaded and validated once; a broken file fails at
the first import of a roadmap with every problem listed, not with a half-working rule set.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, NamedTuple

from models.enums import Direction
from models.roadmap_tables import ParsedItem

RULES_FILE: Final = Path(__file__).resolve().with_name("roadmap_directions.toml")
# A stem this short is a whole word («гто», «хор»): as a prefix it would find «хорошо».
_WHOLE_WORD_MAX = 3
_TOP_KEYS = frozenset({"version", "stop_words", "filler", "weights", "directions"})
_DIRECTION_KEYS = frozenset({"code", "names", "words"})
_WEIGHTS = ("title", "result", "section")
_NON_WORD = re.compile(r"[\W_]+")

Phrase = tuple[str, ...]


class DirectionSource(StrEnum):
    """Where an imported activity's direction came from."""

    COLUMN = "column"  # the file's «Направление» cell names it
    SECTION = "section"  # the activity's section is named after it
    WORDS = "words"  # suggested by the words of the activity


class Found(NamedTuple):
    code: Direction
    source: DirectionSource


class DirectionRulesError(ValueError):
    """The rules file is broken; every problem is listed, as «where: what»."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class DirectionRules:
    names: tuple[tuple[Direction, tuple[Phrase, ...]], ...]
    words: tuple[tuple[Direction, tuple[Phrase, ...]], ...]
    stop_words: frozenset[str]
    filler: tuple[str, ...]
    weights: Mapping[str, int]
    # The word phrases by their first stem: an activity is read in one pass over its words.
    _index: dict[str, list[tuple[int, Phrase]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[tuple[int, Phrase]]] = defaultdict(list)
        for order, (_code, phrases) in enumerate(self.words):
            for phrase in phrases:
                index[phrase[0]].append((order, phrase))
        object.__setattr__(self, "_index", dict(index))

    def tokens(self, text: str | None) -> list[str]:
        """The words of a text as the rules see them: lower case, «ё» as «е», no stop words."""
        normalized = _NON_WORD.sub(" ", (text or "").casefold().replace("ё", "е"))
        return [word for word in normalized.split() if word not in self.stop_words]

    def named(self, text: str | None, *, anywhere: bool) -> Direction | None:
        """The direction a cell or a section title names. `anywhere`: a name anywhere in the
        text will do (a «Направление» cell); otherwise the text must be nothing but the name,
        numbering and filler words («Раздел 2. Здоровье»). Two directions named: none."""
        words = [w for w in self.tokens(text) if not w.isdigit()]
        if not anywhere:
            words = [w for w in words if not any(_stem_of(w, f) for f in self.filler)]
        found = {
            code
            for code, names in self.names
            if any(_occurs(words, name) if anywhere else _is(words, name) for name in names)
        }
        return found.pop() if len(found) == 1 else None

    def _found(self, words: Sequence[str]) -> set[tuple[int, Phrase]]:
        """The word phrases occurring in `words`, each once, with their direction's order."""
        found: set[tuple[int, Phrase]] = set()
        for start, word in enumerate(words):
            stems = [word] + [word[:end] for end in range(_WHOLE_WORD_MAX + 1, len(word))]
            for stem in stems:
                for order, phrase in self._index.get(stem, ()):
                    if _is(words[start : start + len(phrase)], phrase):
                        found.add((order, phrase))
        return found

    def suggest(self, fields: Mapping[str, str | None]) -> Direction | None:
        """The direction whose words weigh most in the activity's fields (title, result,
        section); ties go to the direction listed first in the rules file."""
        scores: dict[int, int] = defaultdict(int)
        for name, weight in self.weights.items():
            for order, phrase in self._found(self.tokens(fields.get(name))):
                scores[order] += len(phrase) * weight
        best = min(
            (order for order, score in scores.items() if score > 0),
            key=lambda order: (-scores[order], order),
            default=None,
        )
        return None if best is None else self.words[best][0]


def _stem_of(word: str, stem: str) -> bool:
    if len(stem) <= _WHOLE_WORD_MAX:
        return word == stem
    return word.startswith(stem)


def _is(words: Sequence[str], phrase: Phrase) -> bool:
    return len(words) == len(phrase) and all(map(_stem_of, words, phrase))


def _occurs(words: Sequence[str], phrase: Phrase) -> bool:
    size = len(phrase)
    return any(_is(words[start : start + size], phrase) for start in range(len(words) - size + 1))


# --- loading --------------------------------------------------------------------------------


def _strings(value: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: a list of non-empty strings is expected")
        return []
    return value


def _phrases(value: Any, where: str, problems: list[str], stop: frozenset[str]) -> list[Phrase]:
    phrases = []
    for text in _strings(value, where, problems):
        words = tuple(text.split())
        if text != text.casefold() or "ё" in text or _NON_WORD.sub(" ", text).split() != [*words]:
            problems.append(f"{where}: «{text}» must be lower-case words, «е» for «ё»")
        elif any(w in stop for w in words):
            problems.append(f"{where}: «{text}» has a stop word, which never matches")
        else:
            phrases.append(words)
    if len(set(phrases)) != len(phrases):
        problems.append(f"{where}: a phrase is listed twice")
    return phrases


def parse_rules(raw: Mapping[str, Any]) -> DirectionRules:
    """Validate the rules file's data; every problem at once."""
    problems = [f"{key}: unknown key" for key in sorted(set(raw) - _TOP_KEYS)]
    if raw.get("version") != 1:
        problems.append("version: 1 is expected")
    stop = frozenset(_strings(raw.get("stop_words", []), "stop_words", problems))
    filler = _strings(raw.get("filler", []), "filler", problems)
    weights = raw.get("weights")
    if not isinstance(weights, dict) or set(weights) != set(_WEIGHTS):
        problems.append(f"weights: exactly {', '.join(_WEIGHTS)} are expected")
        weights = dict.fromkeys(_WEIGHTS, 1)
    elif not all(type(v) is int and v >= 0 for v in weights.values()):
        problems.append("weights: whole numbers ≥ 0 are expected")
    names: list[tuple[Direction, tuple[Phrase, ...]]] = []
    words: list[tuple[Direction, tuple[Phrase, ...]]] = []
    entries = raw.get("directions")
    if not isinstance(entries, list):
        entries = []
    for index, entry in enumerate(entries):
        where = f"directions[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: a table is expected")
            continue
        problems += [f"{where}.{key}: unknown key" for key in sorted(set(entry) - _DIRECTION_KEYS)]
        try:
            code = Direction(str(entry.get("code")))
        except ValueError:
            problems.append(f"{where}.code: «{entry.get('code')}» is not a direction")
            continue
        if any(code == seen for seen, _ in names):
            problems.append(f"{where}.code: «{code}» is listed twice")
        names.append((code, tuple(_phrases(entry.get("names"), f"{where}.names", problems, stop))))
        words.append((code, tuple(_phrases(entry.get("words"), f"{where}.words", problems, stop))))
    missing = [code.value for code in Direction if all(code != seen for seen, _ in names)]
    if missing:
        problems.append(f"directions: missing {', '.join(missing)}")
    if problems:
        raise DirectionRulesError(problems)
    return DirectionRules(tuple(names), tuple(words), stop, tuple(filler), dict(weights))


def load_rules(path: Path = RULES_FILE) -> DirectionRules:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DirectionRulesError([f"{path.name}: {exc}"]) from exc
    return parse_rules(raw)


@functools.cache
def rules() -> DirectionRules:
    """The shipped rules, loaded once per process."""
    return load_rules()


# --- use ------------------------------------------------------------------------------------


def direction_code(text: str | None) -> str | None:
    """The direction code a «Направление» cell names («Знание», «Школьный климат»), if any."""
    if not text or len(text) > 80:
        return None
    code = rules().named(text, anywhere=True)
    return None if code is None else code.value


def direction_of(item: ParsedItem) -> Found | None:
    """An imported activity's direction: its «Направление» cell, else its section's name, else
    a suggestion from the words of its title, expected result and section."""
    if (code := direction_code(item.direction)) is not None:
        return Found(Direction(code), DirectionSource.COLUMN)
    if item.section and len(item.section) <= 120:
        named = rules().named(item.section, anywhere=False)
        if named is not None:
            return Found(named, DirectionSource.SECTION)
    fields = {"title": item.title, "result": item.result, "section": item.section}
    suggested = rules().suggest(fields)
    return None if suggested is None else Found(suggested, DirectionSource.WORDS)


def directions_of(items: Iterable[ParsedItem]) -> list[Found | None]:
    return [direction_of(item) for item in items]
