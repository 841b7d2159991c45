"""Issue 17, point 16: imported activities get a direction (named in the file, or suggested by
their words)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select

from models import AuditEvent, User
from models.roadmap_directions import direction_of
from models.roadmap_import import parse_roadmap
from models.stats import direction_progress
from tests.conftest import Harness, World
from tests.roadmap_files import (
    ROADMAP,
    FileServingSession,
    import_fixture,
    items_of,
    texts,
)


@pytest.fixture
def recorder() -> FileServingSession:
    return FileServingSession()


@pytest.fixture(params=["ru", "en"])
async def coordinator_locale(request, world: World, session_factory) -> str:
    async with session_factory() as session, session.begin():
        (await session.get(User, world.coordinator.id)).locale = request.param
    return str(request.param)


@pytest.fixture
def lang(coordinator_locale: str, i18n: I18n) -> Iterator[str]:
    """The coordinator speaks this language; expected texts are rendered in it."""
    with i18n.context(), i18n.use_locale(coordinator_locale):
        yield coordinator_locale


def suggested(name: str) -> str:
    return _("Direction: {value}").format(
        value=_("{direction} (suggested)").format(direction=name)
    )


def suggestion_line(count: int, total: int) -> str:
    return _(
        "Direction suggested by the words of the activity: {count} of {total}. "
        "To change it: /roadmap, ✏ next to the activity."
    ).format(count=count, total=total)


async def audit(session_factory, action: str) -> list[AuditEvent]:
    async with session_factory() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(rows)


# --- 16: directions of imported activities ----------------------------------------------------


async def test_the_preview_suggests_directions_and_the_import_stores_them(
    harness: Harness, world: World, tg, recorder, session_factory, lang
):
    parsed = parse_roadmap(ROADMAP.read_bytes(), ROADMAP.name)
    words = [direction_of(activity) for activity in parsed.items]
    count = sum(found is not None for found in words)
    assert count >= 0.8 * len(parsed.items)

    preview, _done = await import_fixture(
        harness, world, tg, recorder, ROADMAP.read_bytes(), ROADMAP.name
    )

    (text,) = texts(preview)
    assert suggestion_line(count, len(parsed.items)) in text
    # Item 1: «Утверждение школьного координатора, … методическое сопровождение …».
    assert "   " + suggested(_("Teacher. School team")) in text
    assert "   " + suggested(_("Educational environment")) in text  # 4: информационное …
    assert len(text) < 4096
    by_number = {i.number: i for i in await items_of(session_factory, world.school_a.id)}
    assert {n: i.direction for n, i in by_number.items()} == {
        a.number: (f.code.value if f else None) for a, f in zip(parsed.items, words, strict=True)
    }
    assert (by_number["6"].direction, by_number["12"].direction) == ("environment", "teacher")
    # /status's «Выполнение по направлениям» is no longer one bar «без направления».
    async with session_factory() as session:
        progress = await direction_progress(session, world.school_a.id, today=date(2022, 9, 1))
    assert len({row.direction for row in progress} - {None}) >= 5
    (audit_row,) = await audit(session_factory, "roadmap_imported")
    assert audit_row.details["suggested"] == count
