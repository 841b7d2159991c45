"""What the four documents share: the vocabulary, the mark rule, dates, lists, the writer's
run from rendered blocks to a .docx. Pure functions; no database, no Telegram."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from exports.documents.docx import Cell, Column, DocxWriter
from exports.documents.facts import ItemRow, ReportRow, SchoolInfo, Tally
from exports.documents.templates import Rendered, TemplateError, fill, vocabulary
from exports.surveys import DEFAULT_MIN_RESPONSES
from models.enums import Direction, Mark
from models.stats import Schools

_STYLES: Final = {
    "title": "Title",
    "subtitle": "Subtitle",
    "heading": "Heading1",
    "body": "Body",
    "bullet": "Bullet",
    "note": "Note",
}
_RULE_VALUES: Final = frozenset({"planned", "planned_done", "share", "reports", "reports_done"})


def words(section: str) -> Mapping[str, str]:
    table = vocabulary().get(section)
    if not isinstance(table, dict):
        raise TemplateError(f"vocabulary.toml: no [{section}]")
    return table


def say(key: str, **facts: Any) -> str:
    """A phrase of ``[texts]`` in vocabulary.toml, filled."""
    return fill(words("texts")[key], facts)


@cache
def day(value: date) -> str:
    """A date as the documents write it (a year of reports has 365 of them: made once each)."""
    return fill(words("texts")["day"], {"date": f"{value:%d.%m.%Y}"})


def period(start: date, end: date) -> str:
    if start == end:
        return day(start)
    return say("period", start=day(start), end=day(end))


def direction_title(code: str | None) -> str:
    if code is None:
        return words("direction_rows")["other"]
    title = words("directions").get(code)
    return title or fill(words("direction_rows")["unknown"], {"code": code})


def directions_in_order(present: Sequence[str | None]) -> list[str | None]:
    """Every canonical direction, then other codes found in the data, then «no direction»."""
    known = [code.value for code in Direction]
    extra = sorted({code for code in present if code is not None and code not in known})
    tail: list[str | None] = [None] if None in present else []
    return [*known, *extra, *tail]


def mark_symbol(mark: Mark | str) -> str:
    return words("marks")[str(mark)]


def report_mark(mark: Mark) -> str:
    return words("report_marks")[mark.value]


def project_phrase(schools: Sequence[SchoolInfo]) -> str:
    """«в проекте «…»» for the projects of these schools."""
    projects = {school.project for school in schools}
    if len(projects) == 1:
        return words("projects")[projects.pop()]
    return words("projects")["both"]


def scope_facts(schools: Sequence[SchoolInfo]) -> dict[str, Any]:
    """Who a document is about: the school (when one), the schools, their municipalities."""
    municipalities = sorted({school.municipality for school in schools})
    first = schools[0] if schools else None
    return {
        "project": project_phrase(schools),
        "one_school": len(schools) == 1,
        "school": first.name if first else "",
        "municipality": first.municipality if first else "",
        "count": len(schools),
        "schools": listing([school.short_name for school in schools]),
        "one_municipality": len(municipalities) == 1,
        "municipalities": listing(municipalities),
    }


def listing(names: Sequence[str], limit: int = 20) -> str:
    """Names joined, the first ``limit`` shown and the rest counted; «нет» when empty."""
    if not names:
        return say("none")
    shown = say("list_separator").join(names[:limit])
    if len(names) > limit:
        shown += " " + say("more", count=len(names) - limit)
    return shown


def participants(report: ReportRow) -> str:
    count, category = report.participants_count, (report.participants_category or "").strip()
    if count and category:
        return say("participants_both", count=count, category=category)
    if count:
        return say("participants_count", count=count)
    return say("participants_category", category=category) if category else ""


def materials(report: ReportRow) -> list[str]:
    """The report's links, then its files, one per line."""
    return [*report.links, *(say("file", name=name) for name in report.files)]


def organizer(report: ReportRow, school: SchoolInfo) -> str:
    return (report.organizer or "").strip() or say("school_organizer", school=school.short_name)


def share(tally: Tally) -> float | None:
    return tally.planned_done / tally.planned if tally.planned else None


def mark_for(tally: Tally) -> Mark:
    """The mark of ``tally`` by the rule in vocabulary.toml (``[[mark_rule]]``)."""
    values = {
        "planned": tally.planned,
        "planned_done": tally.planned_done,
        "share": share(tally),
        "reports": tally.reports,
        "reports_done": tally.done,
    }
    for rule in vocabulary()["mark_rule"]:
        if _matches(rule, values):
            return Mark(rule["mark"])
    raise TemplateError("vocabulary.toml: the mark rule has no rule without conditions")


def _matches(rule: Mapping[str, Any], values: Mapping[str, float | None]) -> bool:
    for bound in ("min", "max"):
        for name, limit in (rule.get(bound) or {}).items():
            if name not in _RULE_VALUES:
                raise TemplateError(f"vocabulary.toml: mark_rule: unknown value {name!r}")
            value = values[name]
            if value is None or (value < limit if bound == "min" else value > limit):
                return False
    return True


def deficit_text(direction: str, deficit: str) -> str:
    if not direction or direction.casefold() == deficit.casefold():
        return deficit
    return say("deficit", direction=direction, deficit=deficit)


def item_line(item: ItemRow) -> str:
    number = f"{item.number.rstrip('.')}. " if item.number else ""
    due = item.due_raw or (day(item.due_date) if item.due_date else "")
    return f"{number}{item.title}" + (f" ({due})" if due else "")


def write_blocks(
    writer: DocxWriter,
    blocks: Sequence[Rendered],
    *,
    tables: Mapping[str, tuple[Sequence[Column], Iterable[Sequence[Cell] | str]]],
    chart: tuple[bytes, str] | None = None,
) -> None:
    """Rendered blocks into the writer: paragraphs by style, tables and the chart by name."""
    for block in blocks:
        if block.style == "table":
            columns, rows = tables[block.table or ""]
            writer.table(columns, rows)
        elif block.style == "chart":
            if chart is not None:
                writer.picture(chart[0], description=chart[1], width_share=0.8)
        elif block.style == "page_break":
            writer.page_break()
        elif block.style == "bullet":
            writer.paragraph("– " + block.text, "Bullet")
        else:
            writer.paragraph(block.text, _STYLES[block.style], keep_next=block.style == "heading")


def columns_of(raw: Sequence[Mapping[str, Any]]) -> list[Column]:
    return [Column(str(column["title"]), float(column["width"])) for column in raw]


def finish(writer: DocxWriter, now: datetime) -> bytes:
    # The footer keeps {page} and {pages}: the writer makes them Word's page fields.
    return writer.to_bytes(created=now, footer=words("texts")["footer"])


@dataclass(frozen=True)
class Request:
    """What a document is asked for: the schools (ids or a select of them) and the period."""

    schools: Schools
    start: date
    end: date
    today: date
    tz: ZoneInfo
    now: datetime  # when it is made (aware): the file's creation time
    # Survey figures are shown from this many answers on (the bot's survey_min_responses).
    survey_min_responses: int = DEFAULT_MIN_RESPONSES

    @property
    def period(self) -> str:
        return period(self.start, self.end)

    def common_facts(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": day(self.start),
            "end": day(self.end),
            "today": day(self.today),
            "rule_note": say("rule_note"),
            "generated": say("generated", date=day(self.today)),
        }


def number(value: float | None) -> str:
    """12 → «12», 12.5 → «12,5» (a Russian decimal comma); None → «—»."""
    if value is None:
        return "—"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")
