"""Deadlines read from the free-text «Срок проведения» of real roadmaps, keeping the raw text."""

import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class DueKind(StrEnum):
    DATE = "date"
    PERIOD = "period"
    RECURRING = "recurring"
    UNKNOWN = "unknown"


class Recurrence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"
    PER_SCHEDULE = "per_schedule"
    ONGOING = "ongoing"


@dataclass(frozen=True)
class Due:
    """What a deadline text means.

    DATE: ``end`` is the day it is due; ``start == end`` for «04.10.2022», ``start is None`` for
    «до 04.10.2022». PERIOD: ``start``..``end``, both set. RECURRING: ``recurrence`` is a
    `Recurrence` value; ``start``/``end`` only where the text bounds it. UNKNOWN: no deadline could
    be read (``start`` may still hold the beginning of an open «с 01.09.2022»).
    """

    raw: str | None
    kind: DueKind
    start: date | None = None
    end: date | None = None
    recurrence: str | None = None


_Bounds = tuple[date, date]

# A bare month belongs to the calendar year it falls in within a September-August school year;
# «в течение учебного года» still ends with the last month of lessons.
_SCHOOL_YEAR_FIRST_MONTH = 9
_LESSONS_LAST_MONTH = 5
_MIN_YEAR, _MAX_YEAR = 1990, 2100

_QUARTER_MONTHS = {1: (1, 3), 2: (4, 6), 3: (7, 9), 4: (10, 12)}
_CALENDAR_HALF_MONTHS = {1: (1, 6), 2: (7, 12)}
_SCHOOL_HALF_MONTHS = {1: (9, 12), 2: (1, 5)}
# Школьные четверти end on dates set by each region; whole months are a usable approximation.
_TERM_MONTHS = {1: (9, 10), 2: (11, 12), 3: (1, 3), 4: (4, 5)}
_ORDINAL_WORDS = {"перв": 1, "втор": 2, "трет": 3, "четв": 4, "i": 1, "ii": 2, "iii": 3, "iv": 4}

_MONTH = (
    r"(?:(?:январ|феврал|апрел|июн|июл|сентябр|октябр|ноябр|декабр)(?:ь|я|ю|е|ем)"
    r"|(?:март|август)(?:а|е|у|ом)?"
    r"|ма(?:й|я|е|ю|ем)"
    r"|(?:янв|февр?|мар|апр|июн|июл|авг|сент?|окт|нояб?|дек)\.?)(?![а-я])"
)
_MONTH_PREFIXES = (
    ("янв", 1), ("фев", 2), ("мар", 3), ("апр", 4), ("ма", 5), ("июн", 6),
    ("июл", 7), ("авг", 8), ("сен", 9), ("окт", 10), ("ноя", 11), ("дек", 12),
)  # fmt: skip
_Y4 = r"(?:19|20|21)\d\d"
# «в течение», «в течении», «на протяжении»
_THROUGHOUT = r"(?:течени|протяжени)[а-я]*"
_SY_SUFFIX = r"(?:\s?(?:учебн[а-я]*|уч\.?)\s?(?:год[а-я]*|г\.?))?"
_TOKEN = re.compile(
    # «II квартал 2023», «1 полугодие 2022-2023», «третья четверть»
    r"(?P<period>(?<![a-zа-я0-9])(?P<p_ord>[1-4]|iv|i{1,3}|перв[а-я]*|втор[а-я]*|трет[а-я]*"
    r"|четверт(?:ый|ого|ом|ая|ой|ую))(?:\s?-?\s?(?:й|е|я|го|ого|ое|ый|ом|ая|ой))?"
    r"\s(?P<p_unit>квартал|кв(?![а-я])|полугоди|полгод|четверт)[а-я]*\.?"
    rf"(?:\s(?:(?P<p_sy1>{_Y4})\s?[-/]\s?(?P<p_sy2>\d{{4}}|\d\d)(?!\d){_SY_SUFFIX}"
    rf"|(?P<p_y>{_Y4})(?!\d)))?)"
    # «28-29.11.2022»
    r"|(?P<daterange>(?<!\d)(?P<r_d1>\d{1,2})\s?-\s?(?P<r_d>\d{1,2})\s?[./]\s?(?P<r_m>\d{1,2})"
    r"\s?[./]\s?(?P<r_y>\d{4}|\d\d)(?!\d))"
    # «04.10.2022», «22.09. 2022», «01.09.23», «22 04 2021»
    r"|(?P<date>(?<!\d)(?P<d_d>\d{1,2})\s?[./]\s?(?P<d_m>\d{1,2})\s?[./]\s?(?P<d_y>\d{4}|\d\d)"
    r"(?!\d)|(?<!\d)(?P<s_d>\d{1,2}) (?P<s_m>\d\d) (?P<s_y>\d{4})(?!\d))"
    # «1-15 марта 2023», «с 1 по 15 марта»
    rf"|(?P<dayrange>(?<!\d)(?P<n_d1>\d{{1,2}})\s?(?:-|по)\s?(?P<n_d>\d{{1,2}})\s?"
    rf"(?P<n_m>{_MONTH})(?:\s(?P<n_y>{_Y4})(?!\d))?)"
    # «1 марта 2021г.»
    rf"|(?P<dayname>(?<!\d)(?P<a_d>\d{{1,2}})\s?(?P<a_m>{_MONTH})(?:\s(?P<a_y>{_Y4})(?!\d))?)"
    # «2022-2023 учебный год», «2022/23»
    rf"|(?P<sy>(?<!\d)(?P<y_1>{_Y4})\s?[-/]\s?(?P<y_2>\d{{4}}|\d\d)(?!\d){_SY_SUFFIX})"
    # «28.11» before «- 29.11.2022»
    r"|(?P<daymonth>(?<!\d)(?P<m_d>\d{1,2})\s?[./]\s?(?P<m_m>\d{1,2})(?!\d|\s?[./]\s?\d))"
    # «октябрь», «май 2023»; a year followed by «-2024» belongs to a school year, not the month
    rf"|(?P<month>(?P<o_m>{_MONTH})(?:\s(?P<o_y>{_Y4})(?!\d|\s?[-/]\s?\d))?)"
    r"|(?P<cursy>учебн[а-я]*\sгод[а-я]*|уч\.\s?г(?:од[а-я]*|\.)"
    rf"|{_THROUGHOUT}\s(?:всего\s)?года?(?![а-я])|(?<![а-я])весь\sгод(?![а-я]))"
    # «летом», «в летний период»: June-August of the school year
    r"|(?P<summer>(?:(?<![а-я])летом(?![а-я])|летн[а-я]*\s(?:период|каникул|месяц)[а-я]*)"
    rf"(?:\s(?P<l_y>{_Y4})(?!\d))?)"
    r"|(?P<curyear>конц[а-я]*\s(?:текущего\s|календарного\s)?года?(?![а-я]))"
    rf"|(?P<year>(?<!\d)(?P<g_y>{_Y4})(?!\d))"
)
# Ranges are single tokens already, so a «с»/«до» in front of them adds nothing.
_RANGE_KINDS = frozenset({"daterange", "dayrange"})

# Dict order breaks ties between patterns that match at the same place.
_RECURRENCE_PATTERNS = {
    Recurrence.BIWEEKLY: r"раз[а-я]*\sв\s(?:2|две)\sнедел",
    Recurrence.HALF_YEARLY: (
        r"(?:2|два|дважды)\s(?:раза\s)?в\sгод|раз[а-я]*\sв\sпол(?:года|угод)"
        r"|по\sполугодиям|кажд[а-я]*\sполугоди"
    ),
    Recurrence.DAILY: r"ежедневн|кажд[а-я]*\sдень",
    Recurrence.WEEKLY: (
        r"еженедел|кажд[а-я]*\sнедел|раз[а-я]*\sв\sнедел"
        r"|(?:по|кажд[а-я]*)\s(?:понедельник|вторник|сред|четверг|пятниц|суббот)"
    ),
    Recurrence.MONTHLY: r"ежемесячн|кажд[а-я]*\sмесяц|раз[а-я]*\sв\sмесяц",
    Recurrence.QUARTERLY: (
        r"ежекварт|ежечетверт|раз[а-я]*\sв\s(?:квартал|четверт)"
        r"|кажд[а-я]*\s(?:квартал|четверт)|по\sчетвертям|по\sитогам\sчетверт"
    ),
    Recurrence.YEARLY: r"ежегодн|кажд[а-я]*\sгод|раз[а-я]*\sв\sгод",
    Recurrence.PER_SCHEDULE: (
        r"график|по\s(?:отдельному\s)?плану|согласно\s(?:[а-я]+\s)?план"
        r"|в\sсоответствии\sс\s(?:[а-я]+\s)?(?:план|график)|по\sмере\sнеобходимост|по\sзапросу"
    ),
    Recurrence.ONGOING: r"постоянн|систематическ|регулярн|круглогодичн",
}
_RECURRENCES = tuple((key, re.compile(pattern)) for key, pattern in _RECURRENCE_PATTERNS.items())
_DURING_SCHOOL_YEAR = re.compile(
    rf"{_THROUGHOUT}\s(?:всего\s)?(?:учебного\s)?года?(?![а-я])|(?<![а-я])весь\s(?:учебный\s)?год"
)

_DASHES = re.compile(r"[\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]")
_YEAR_WORD = re.compile(r"(?<=\d)\s?(?:г\.?\s?г|гг|года?|году|г)(?![а-я])\.?")
_COMMA_BEFORE_YEAR = re.compile(rf"(?<=[а-я.]),\s*(?={_Y4}(?!\d))")
_RANGE_GAP = re.compile(r"-?\s?(?:по|до)?")
_DEADLINE_LEAD = re.compile(
    r"(?:^|[^а-я])(?:до|к|по|не\sпозднее|не\sпозже)\s?"
    r"(?:(?P<end>(?:конц|окончани)[а-я]*)\s|начал[а-я]*\s)?$"
)
_OPEN_LEAD = re.compile(r"(?:^|[^а-я])(?:с|со|после|начиная\sс)\s?$")
_SCHOOL_YEAR_TEXT = re.compile(
    rf"(?<![\d.])(?P<y1>{_Y4})\s?[-/]\s?(?P<y2>\d{{4}}|\d\d)(?!\d)(?P<school>\s?уч)?"
)


@dataclass
class _Token:
    kind: str
    start: int
    end: int
    make: Callable[[int], _Bounds | None]
    """First and last day from `key`: a calendar year, or a school year when `sy_based`."""
    key: int | None = None
    month: int | None = None
    """First month, to pick the calendar year of a yearless month from its neighbours."""
    sy_based: bool = False


def _normalize(text: str) -> str:
    text = text.lower().replace("ё", "е").replace("\xa0", " ")
    text = _DASHES.sub("-", text)
    text = _YEAR_WORD.sub(" ", text)
    # «Декабрь, 2023»: the year belongs to the month before the comma
    text = _COMMA_BEFORE_YEAR.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def _safe_date(year: int, month: int, day: int) -> date | None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _months(year: int, first_month: int, last_month: int) -> _Bounds | None:
    first = _safe_date(year, first_month, 1)
    last = _safe_date(year, last_month, 1) if 1 <= last_month <= 12 else None
    if first is None or last is None:
        return None
    return first, last.replace(day=monthrange(last.year, last.month)[1])


def _years(first_year: int, last_year: int) -> _Bounds | None:
    first, last = _months(first_year, 1, 1), _months(last_year, 12, 12)
    return (first[0], last[1]) if first and last and first[0] <= last[1] else None


def _calendar_year_of(month: int, school_year: int) -> int:
    return school_year if month >= _SCHOOL_YEAR_FIRST_MONTH else school_year + 1


def _school_months(school_year: int, first_month: int, last_month: int) -> _Bounds | None:
    first = _months(_calendar_year_of(first_month, school_year), first_month, first_month)
    last = _months(_calendar_year_of(last_month, school_year), last_month, last_month)
    return (first[0], last[1]) if first and last else None


def _school_year_bounds(school_year: int) -> _Bounds | None:
    return _school_months(school_year, _SCHOOL_YEAR_FIRST_MONTH, _LESSONS_LAST_MONTH)


def _full_year(text: str) -> int:
    year = int(text)
    return 2000 + year if year < 100 else year


def _month_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    return next(number for prefix, number in _MONTH_PREFIXES if text.startswith(prefix))


def _school_year_of(first: str, second: str) -> int | None:
    """The first year of «2022-2023» / «2022-23»; None when the years are not consecutive."""
    start = int(first)
    end = int(second) if len(second) == 4 else start // 100 * 100 + int(second)
    return start if end == start + 1 else None


def _never(_: int) -> None:
    return None


def _days(month: int, first_day: int, last_day: int) -> Callable[[int], _Bounds | None]:
    def make(year: int) -> _Bounds | None:
        first, last = _safe_date(year, month, first_day), _safe_date(year, month, last_day)
        return (first, last) if first and last else None

    return make


def _period(match: re.Match[str]) -> _Token:
    ordinal, unit = match["p_ord"], match["p_unit"]
    number = int(ordinal) if ordinal.isdigit() else _ORDINAL_WORDS.get(ordinal[:4], 0)
    year = int(match["p_y"]) if match["p_y"] else None
    invalid = _Token("period", match.start(), match.end(), _never, key=0)
    if unit in {"квартал", "кв"}:
        table, school = _QUARTER_MONTHS, year is None
    elif unit == "четверт":
        table, school = _TERM_MONTHS, True
    elif year is not None:
        # «I полугодие 2023» names a calendar year, so it is January-June.
        table, school = _CALENDAR_HALF_MONTHS, False
    else:
        table, school = _SCHOOL_HALF_MONTHS, True
    if number not in table:
        return invalid
    first, last = table[number]
    if not school:
        return _Token(
            "period", match.start(), match.end(), lambda y: _months(y, first, last), year, first
        )
    key = None
    if match["p_sy1"]:
        key = _school_year_of(match["p_sy1"], match["p_sy2"])
        if key is None:
            return invalid
    elif year is not None:
        key = year if first >= _SCHOOL_YEAR_FIRST_MONTH else year - 1
    return _Token(
        "period",
        match.start(),
        match.end(),
        lambda sy: _school_months(sy, first, last),
        key,
        sy_based=True,
    )


def _token(match: re.Match[str]) -> _Token:
    kind = match.lastgroup or ""
    start, end = match.start(), match.end()
    if kind == "period":
        return _period(match)
    if kind in {"daterange", "dayrange", "date", "dayname", "daymonth"}:
        prefix = {"daterange": "r", "dayrange": "n", "dayname": "a", "daymonth": "m"}.get(kind)
        if prefix is None:
            prefix = "d" if match["d_d"] else "s"
        month = _month_number(match[f"{prefix}_m"])
        last_day = int(match[f"{prefix}_d"])
        first_day = int(match[f"{prefix}_d1"]) if kind in _RANGE_KINDS else last_day
        year_text = match[f"{prefix}_y"] if kind != "daymonth" else None
        year = _full_year(year_text) if year_text else None
        return _Token(kind, start, end, _days(month, first_day, last_day), year, month)
    if kind == "month":
        month = _month_number(match["o_m"])
        year = int(match["o_y"]) if match["o_y"] else None
        return _Token(kind, start, end, lambda y: _months(y, month, month), year, month)
    if kind == "sy":
        school_year = _school_year_of(match["y_1"], match["y_2"])
        if school_year is not None:
            return _Token(kind, start, end, _school_year_bounds, school_year, sy_based=True)
        first, last = int(match["y_1"]), _full_year(match["y_2"])
        return _Token("years", start, end, lambda _: _years(first, last), first)
    if kind == "cursy":
        return _Token(kind, start, end, _school_year_bounds, sy_based=True)
    if kind == "summer":
        if match["l_y"]:
            return _Token(kind, start, end, lambda y: _months(y, 6, 8), int(match["l_y"]), 6)
        return _Token(kind, start, end, lambda sy: _school_months(sy, 6, 8), sy_based=True)
    if kind == "curyear":
        # «до конца года» in a school's plan is the end of the calendar year the school year starts
        return _Token(kind, start, end, lambda sy: _months(sy, 1, 12), sy_based=True)
    year = int(match["g_y"])
    return _Token(kind, start, end, lambda y: _months(y, 1, 12), year)


def _resolve(tokens: list[_Token], school_year: int | None) -> bool:
    """Give every token its year; False if one can't be known."""
    following: list[_Token | None] = []
    anchor = None
    for token in reversed(tokens):
        following.append(anchor)
        if token.key is not None and not token.sy_based:
            anchor = token
    following.reverse()
    before = None
    for token, after in zip(tokens, following, strict=True):
        if token.key is None:
            if token.sy_based or token.month is None:
                if school_year is None:
                    return False
                token.key = school_year
            elif after is not None and after.key is not None:
                late = after.month is not None and token.month > after.month
                token.key = after.key - 1 if late else after.key
            elif before is not None and before.key is not None:
                early = before.month is not None and token.month < before.month
                token.key = before.key + 1 if early else before.key
            elif school_year is not None:
                token.key = _calendar_year_of(token.month, school_year)
            else:
                return False
        if not token.sy_based:
            before = token
    return True


def _spans(text: str, tokens: list[_Token]) -> list[tuple[date | None, date | None]] | None:
    bounds = []
    for token in tokens:
        made = token.make(token.key) if token.key is not None else None
        if made is None:
            return None
        bounds.append(made)
    spans: list[tuple[date | None, date | None]] = []
    index, consumed = 0, 0
    while index < len(tokens):
        token, (first, last) = tokens[index], bounds[index]
        lead = text[consumed : token.start]
        if index + 1 < len(tokens):
            gap = text[token.end : tokens[index + 1].start].strip()
            if gap and _RANGE_GAP.fullmatch(gap):
                spans.append((first, bounds[index + 1][1]))
                consumed = tokens[index + 1].end
                index += 2
                continue
        deadline = _DEADLINE_LEAD.search(lead)
        if token.kind in _RANGE_KINDS:
            spans.append((first, last))
        elif lead.rstrip().endswith("-") or (deadline and deadline["end"]):
            spans.append((None, last))
        elif deadline:
            # «до октября» is before October starts; «по октябрь» includes it.
            spans.append((None, last if lead.rstrip().endswith("по") else first))
        elif _OPEN_LEAD.search(lead):
            spans.append((first, None))
        else:
            spans.append((first, last))
        consumed = token.end
        index += 1
    return spans


def _recurrence(text: str) -> Recurrence | None:
    found = [
        (match.start(), order, recurrence)
        for order, (recurrence, pattern) in enumerate(_RECURRENCES)
        if (match := pattern.search(text))
    ]
    return min(found)[2] if found else None


def parse_due(text: str | None, *, school_year: int | None = None) -> Due:
    """Read a deadline out of free text; never raises, unreadable text is UNKNOWN."""
    if text is None or not text.strip():
        return Due(None, DueKind.UNKNOWN)
    normalized = _normalize(text)
    recurrence = _recurrence(normalized)
    tokens = [_token(match) for match in _TOKEN.finditer(normalized)]
    # «май 2022-2023 учебного года»: the school year only says which May.
    explicit = [t for t in tokens if t.kind == "sy"]
    if explicit and len(explicit) < len(tokens):
        school_year = explicit[0].key
        tokens = [t for t in tokens if t.kind != "sy"]
    spans = _spans(normalized, tokens) if _resolve(tokens, school_year) else None
    if spans is None:
        if recurrence is None and _DURING_SCHOOL_YEAR.search(normalized):
            recurrence = Recurrence.ONGOING
        spans = []
    starts = [start for start, _ in spans if start is not None]
    ends = [end for _, end in spans if end is not None]
    start, end = min(starts, default=None), max(ends, default=None)
    if start is not None and end is not None and start > end:
        start = end = None
    if recurrence is not None:
        return Due(text, DueKind.RECURRING, start, end, recurrence)
    if end is None:
        return Due(text, DueKind.UNKNOWN, start)
    kind = DueKind.DATE if start is None or start == end else DueKind.PERIOD
    return Due(text, kind, start, end)


def school_year_of(day: date) -> int:
    """The first calendar year of the school year a day falls in."""
    return day.year if day.month >= _SCHOOL_YEAR_FIRST_MONTH else day.year - 1


def school_year_from_text(text: str) -> int | None:
    """The first year of the school year a title names («на 2022-2023 учебный год» → 2022)."""
    normalized = _DASHES.sub("-", text.lower())
    found = [
        (match["school"] is None, match.start(), school_year)
        for match in _SCHOOL_YEAR_TEXT.finditer(normalized)
        if (school_year := _school_year_of(match["y1"], match["y2"])) is not None
    ]
    return min(found)[2] if found else None
