"""«Аналитическая справка»: the period in plain official Russian — reports by direction, roadmap
coverage and overdue activities, self-diagnosis levels and their change, deficits open and
closed, schools that need attention, what anonymous surveys found — with the roadmap chart.
The code only computes facts (every number from the database); what is said about them is in
templates/note.toml."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from exports.charts import Bar, ChartLabels, progress_chart
from exports.documents import surveys as doc_surveys
from exports.documents.common import (
    Request,
    day,
    deficit_text,
    direction_title,
    directions_in_order,
    finish,
    item_line,
    listing,
    number,
    say,
    scope_facts,
    write_blocks,
)
from exports.documents.docx import DocxWriter
from exports.documents.facts import (
    Diagnostics,
    Figures,
    ItemRow,
    RunResult,
    SchoolInfo,
    Tally,
    load_diagnostics,
    load_figures,
    load_items,
    load_schools,
)
from exports.documents.templates import fill, render, template
from models.enums import Direction

NAME = "note"


@dataclass(frozen=True)
class Data:
    request: Request
    schools: list[SchoolInfo]
    figures: Figures
    diagnostics: Diagnostics
    overdue: list[ItemRow]  # listed for one school only; many schools are counted instead
    surveys: doc_surveys.Surveys


async def collect(session: AsyncSession, request: Request) -> Data:
    schools, start, end, today = request.schools, request.start, request.end, request.today
    infos = await load_schools(session, schools)
    overdue: list[ItemRow] = []
    if len(infos) == 1:
        items = await load_items(session, [infos[0].id], end=end, today=today)
        overdue = [item for item in items if item.overdue]
    return Data(
        request=request,
        schools=infos,
        figures=await load_figures(session, schools, start=start, end=end, today=today),
        diagnostics=await load_diagnostics(session, schools, end=end, tz=request.tz),
        overdue=overdue,
        surveys=await doc_surveys.load(session, request, infos),
    )


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def report_facts(data: Data) -> dict[str, Any]:
    total = data.figures.total()
    by_school = data.figures.by_school()
    by_direction = data.figures.by_direction()
    silent = [s.short_name for s in data.schools if not by_school.get(s.id, Tally()).reports]
    directions = []
    empty = []
    for code in directions_in_order(list(by_direction)):
        tally = by_direction.get(code, Tally())
        if tally.reports:
            directions.append({**tally.facts(), "direction": direction_title(code)})
        elif code in set(Direction):
            empty.append(f"«{direction_title(code)}»")
    return {
        **total.facts(),
        "schools_reporting": len(data.schools) - len(silent),
        "silent_schools": listing(silent) if silent else "",
        "directions": directions,
        "directions_without_reports": say("list_separator").join(empty),
        "covered_percent": _percent(total.covered, total.items),
        "done_percent": _percent(total.items_done, total.items),
    }


def roadmap_facts(data: Data, limits: Mapping[str, int]) -> dict[str, Any]:
    by_school = data.figures.by_school()
    shown = data.overdue[: limits["overdue_items"]]
    facts: dict[str, Any] = {
        "overdue_items": [{"item": item_line(item)} for item in shown],
        "overdue_more": max(0, len(data.overdue) - len(shown)),
        "overdue_schools": [],
        "schools_without_roadmap": "",
    }
    if len(data.schools) > 1:
        late = sorted(
            (s for s in data.schools if by_school.get(s.id, Tally()).overdue),
            key=lambda s: (-by_school[s.id].overdue, s.short_name),
        )
        facts["overdue_schools"] = [
            {"school": s.short_name, "overdue": by_school[s.id].overdue}
            for s in late[: limits["overdue_schools"]]
        ]
        missing = [s.short_name for s in data.schools if not by_school.get(s.id, Tally()).items]
        facts["schools_without_roadmap"] = listing(missing) if missing else ""
    return facts


def _change_key(diagnostics: Diagnostics, latest: RunResult, previous: RunResult | None) -> str:
    if previous is None:
        return "first_time"
    now, before = diagnostics.rank(latest), diagnostics.rank(previous)
    if now is None or before is None or now == before:
        return "same"
    return "up" if now > before else "down"


def _change(diagnostics: Diagnostics, latest: RunResult, previous: RunResult | None) -> str:
    changes = template(NAME)["changes"]
    key = _change_key(diagnostics, latest, previous)
    if previous is None:
        return str(changes[key])
    level = diagnostics.level_title(previous) or "—"
    return fill(changes[key], {"before": level, "date": day(previous.completed_on)})


def diagnostics_facts(data: Data, limits: Mapping[str, int]) -> dict[str, Any]:
    diag = data.diagnostics
    changes = template(NAME)["changes"]
    pairs = [pair for s in data.schools for pair in diag.runs.get(s.id, {}).values()]
    estimate = f" {say('estimate')}"
    school_runs = []
    if len(data.schools) == 1:
        for latest, previous in sorted(pairs, key=lambda p: (p[0].kind != "levels", p[0].title)):
            school_runs.append(
                {
                    "questionnaire": latest.title,
                    "date": day(latest.completed_on),
                    "level": diag.level_title(latest) or "—",
                    "estimate": estimate if latest.estimate else "",
                    "points": number(latest.points),
                    "max_points": number(latest.max_points),
                    "change": _change(diag, latest, previous),
                }
            )
    questionnaires = []
    by_code: dict[str, list[tuple[RunResult, RunResult | None]]] = {}
    for pair in pairs:
        by_code.setdefault(pair[0].code, []).append(pair)
    if len(data.schools) > 1:
        for group in sorted(
            by_code.values(), key=lambda g: (g[0][0].kind != "levels", g[0][0].title)
        ):
            levels = Counter(diag.level_title(latest) or "—" for latest, _ in group)
            moves = Counter(_change_key(diag, latest, previous) for latest, previous in group)
            questionnaires.append(
                {
                    "questionnaire": group[0][0].title,
                    "with_runs": len(group),
                    "count": len(data.schools),
                    "estimate": estimate if any(latest.estimate for latest, _ in group) else "",
                    "levels": "; ".join(
                        fill(changes["level_count"], {"level": level, "schools": n})
                        for level, n in levels.most_common()
                    ),
                    **{key: moves[key] for key in ("up", "same", "down", "first_time")},
                }
            )
    without = [s.short_name for s in data.schools if not diag.runs.get(s.id)]
    return {
        "runs": bool(pairs),
        "school_runs": school_runs,
        "questionnaires": questionnaires,
        "schools_without_runs": listing(without) if without else "",
        **_deficit_facts(pairs, len(data.schools) > 1, limits),
    }


def _deficit_facts(
    pairs: Sequence[tuple[RunResult, RunResult | None]], many: bool, limits: Mapping[str, int]
) -> dict[str, Any]:
    suffix = template(NAME)["changes"]["schools_suffix"]
    open_: Counter[tuple[str, str]] = Counter()
    closed: Counter[tuple[str, str]] = Counter()
    for latest, previous in pairs:
        now = set(latest.deficits)
        open_.update(now)
        if previous is not None:
            closed.update(set(previous.deficits) - now)

    def listed(counter: Counter[tuple[str, str]], limit: int) -> list[dict[str, Any]]:
        return [
            {
                "deficit": deficit_text(direction, deficit),
                "schools_suffix": fill(suffix, {"schools": n}) if many else "",
            }
            for (direction, deficit), n in counter.most_common(limit)
        ]

    return {
        "open_count": len(open_),
        "open_deficits": listed(open_, limits["open_deficits"]),
        "open_more": max(0, len(open_) - limits["open_deficits"]),
        "closed_count": len(closed),
        "closed_deficits": listed(closed, limits["closed_deficits"]),
        "compared": any(previous is not None for _, previous in pairs),
    }


def attention_facts(data: Data) -> dict[str, Any]:
    rules = template(NAME)["attention"]
    by_school = data.figures.by_school()
    found = []
    for school in data.schools:
        tally = by_school.get(school.id, Tally())
        reasons = []
        if not tally.reports:
            reasons.append(rules["no_reports"])
        if tally.overdue >= rules["overdue_at_least"]:
            reasons.append(fill(rules["overdue"], {"overdue": tally.overdue}))
        if not tally.items:
            reasons.append(rules["no_roadmap"])
        runs = data.diagnostics.runs.get(school.id, {})
        if not runs:
            reasons.append(rules["no_diagnostics"])
        for latest, _previous in runs.values():
            if _worst(data.diagnostics, latest):
                level = data.diagnostics.level_title(latest) or "—"
                reasons.append(
                    fill(rules["worst_level"], {"questionnaire": latest.title, "level": level})
                )
        if tally.returned >= rules["returned_at_least"]:
            reasons.append(fill(rules["returned"], {"returned": tally.returned}))
        if reasons:
            found.append({"school": school.short_name, "reasons": "; ".join(reasons)})
    return {"attention": found, "attention_rules": fill(rules["rules"], rules)}


def _worst(diagnostics: Diagnostics, run: RunResult) -> bool:
    """The bottom of a self-diagnosis scale; the top of a risk scale (more is worse there)."""
    rank = diagnostics.rank(run)
    scale = diagnostics.scales.get(run.questionnaire_id, ())
    if rank is None or not scale:
        return False
    return rank == (0 if run.kind == "levels" else len(scale) - 1)


def chart(data: Data) -> tuple[bytes, str] | None:
    texts = template(NAME)["chart"]
    limit = template(NAME)["limits"]["chart_bars"]
    labels = ChartLabels(
        done=texts["done"],
        reported=texts["reported"],
        open=texts["open"],
        no_roadmap=texts["no_roadmap"],
    )
    if len(data.schools) == 1:
        by_direction = data.figures.by_direction()
        bars = [
            Bar(direction_title(code), t.items_done, t.items, t.covered)
            for code in directions_in_order(list(by_direction))
            if (t := by_direction.get(code, Tally())).items
        ]
        title = texts["school_title"]
    else:
        by_school = data.figures.by_school()
        tallies = [(s, by_school.get(s.id, Tally())) for s in data.schools]
        tallies.sort(
            key=lambda p: (p[1].items_done / p[1].items if p[1].items else -1.0, p[0].short_name)
        )
        bars = [Bar(s.short_name, t.items_done, t.items, t.covered) for s, t in tallies[:limit]]
        title = texts["schools_title"]
        if len(tallies) > limit:
            title = fill(texts["schools_title_part"], {"shown": limit})
    if not bars:
        return None
    return progress_chart(bars, title=title, labels=labels), texts["description"]


def render_docx(data: Data) -> tuple[bytes, int]:
    spec = template(NAME)
    writer = DocxWriter(title=spec["name"], landscape=bool(spec.get("landscape")))
    limits = spec["limits"]
    picture = chart(data)
    facts = {
        **data.request.common_facts(),
        **scope_facts(data.schools),
        **report_facts(data),
        **roadmap_facts(data, limits),
        **diagnostics_facts(data, limits),
        **attention_facts(data),
        **doc_surveys.summary_facts(
            data.schools, data.surveys, data.request, limits["survey_questions"]
        ),
        "chart": picture is not None,
    }
    write_blocks(writer, render(spec["blocks"], facts), tables={}, chart=picture)
    return finish(writer, data.request.now), 0  # a text: no table rows
