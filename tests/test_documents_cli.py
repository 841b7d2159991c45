"""`python main.py document KIND`: a document written without Telegram, and bad input refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import main
from exports.documents.build import document_filename
from exports.documents.kinds import DocumentKind
from tests.conftest import World
from tests.documents_data import END, START, make_season, make_surveys
from tests.docx_reader import read


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
async def season(world: World, session_factory: async_sessionmaker[AsyncSession]) -> None:
    await make_season(world, session_factory)


async def run(*args: str) -> int:
    return await asyncio.to_thread(main.main, ["document", *args])


@pytest.mark.parametrize("kind", list(DocumentKind))
async def test_every_kind_is_written(
    kind: DocumentKind, world: World, season, cli_env: Path, capsys
):
    out = cli_env / f"{kind}.docx"
    assert await run(kind, "--from", "01.09.2026", "--to", "2026-11-30", "--out", str(out)) == 0
    doc = read(out.read_bytes())
    assert doc.paragraphs[0][0] == "Title"
    assert f"{out}: " in capsys.readouterr().out
    assert not [p for p in os.listdir(cli_env) if p.endswith(".part")]


async def test_one_school_and_the_default_name(world: World, season, cli_env: Path, capsys):
    args = ["--from", "2026-09-01", "--to", "2026-11-30", "--school", str(world.school_b.id)]
    assert await run("activities", *args) == 0
    out = cli_env / document_filename(DocumentKind.ACTIVITIES, START, END)
    assert [row[2] for row in read(out.read_bytes()).rows] == ["Урок школы Б\nНаправление: Знание"]
    assert "1 schools, 1 table rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["school"], "give the period: --from DATE --to DATE"),
        (["school", "--from", "01.09.2026"], "give the period"),
        (["school", "--from", "30.11.2026", "--to", "01.09.2026"], "--from is after --to"),
        (["school", "--from", "31.02.2026", "--to", "01.03.2026"], "not a date: '31.02.2026'"),
    ],
)
async def test_bad_arguments_are_refused(args, message, cli_env: Path, capsys):
    assert await run(*args) == 2
    assert message in capsys.readouterr().err
    assert not [name for name in os.listdir(cli_env) if ".docx" in name]


async def test_unknown_school_and_unwritable_path(world: World, cli_env: Path, capsys):
    period = ["--from", "01.09.2026", "--to", "30.11.2026"]
    assert await run("note", *period, "--school", "424242") == 1
    assert "not written: no school with id 424242" in capsys.readouterr().err
    missing = cli_env / "no" / "such" / "dir.docx"
    assert await run("note", *period, "--out", str(missing)) == 1
    assert "not written: cannot write" in capsys.readouterr().err


async def test_an_empty_database_writes_nothing(cli_env: Path, capsys):
    assert (
        await run("municipal", "--from", "01.09.2026", "--to", "30.11.2026", "--out", "m.docx")
        == 1
    )
    assert "not written: no schools to report on" in capsys.readouterr().err
    assert not (cli_env / "m.docx").exists()


async def test_survey_figures_follow_the_configured_minimum(
    world: World, session_factory, cli_env: Path, monkeypatch: pytest.MonkeyPatch
):
    """SURVEY_MIN_RESPONSES reaches the CLI's document, not the documents' own default of 5."""
    await make_surveys(world, session_factory)
    period = ["--from", "01.09.2026", "--to", "30.11.2026", "--school", str(world.school_a.id)]
    shown, hidden = cli_env / "shown.docx", cli_env / "hidden.docx"
    assert await run("school", *period, "--out", str(shown)) == 0
    monkeypatch.setenv("SURVEY_MIN_RESPONSES", "7")
    assert await run("school", *period, "--out", str(hidden)) == 0
    # The parents' survey: six answers, closed in the period.
    parents = [read(path.read_bytes()).tables[1].rows[1][5] for path in (shown, hidden)]
    assert "%" in parents[0]
    assert parents[1] == "Меньше 7 ответов — не показано, чтобы никого нельзя было узнать."
