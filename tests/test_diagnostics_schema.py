"""The questionnaire file format: every problem at once, each with its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.diagnostics import Problem, QuestionnaireError, load_questionnaire
from tests.diagnostics_data import HEADER, SMALL, parse

# --- validation ------------------------------------------------------------------------------


def test_invalid_file_lists_every_problem(tmp_path: Path) -> None:
    broken = (
        HEADER.replace("medium = 0.6", "medium = 0.3")
        + """
[[directions]]
code = "a"
title = "А"
colour = "red"

[[questions]]
code = "q1"
direction = "a"
kind = "yesno"
text = "q1"

[[questions]]
code = "q1"
direction = "zzz"
kind = "slider"
text = "q2"

[[questions]]
code = "q3"
direction = "a"
kind = "choice"
text = "q3"

[[questions]]
code = "q4"
direction = "a"
kind = "number"
text = "q4"
bands = [{min = 0, max = 10, points = 0}, {min = 5, points = -1}]
applies_to = {levels = ["ВУЗ"]}
"""
    )
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    assert caught.value.source == "broken.toml"
    assert set(caught.value.problems) == {
        Problem("thresholds.medium", "thresholds_unordered"),
        Problem("directions[0].colour", "key_unknown"),
        Problem("questions.q1.direction", "direction_unknown"),
        Problem("questions.q1.kind", "kind_invalid"),
        Problem("questions[1]", "code_duplicate"),
        Problem("questions.q3.options", "options_missing"),
        Problem("questions.q4.bands[1].points", "points_invalid"),
        Problem("questions.q4.bands[1]", "bands_overlap"),
        Problem("questions.q4.applies_to.levels", "school_level_unknown"),
    }


def test_unreadable_toml(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("code = ", encoding="utf-8")
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    assert [p.code for p in caught.value.problems] == ["toml_invalid"]


def test_applies_to_needs_the_profile_question() -> None:
    text = SMALL.replace('[[profile]]\ncode = "ovz"\ntext = "ОВЗ"\n', "")
    with pytest.raises(QuestionnaireError) as caught:
        parse(text)
    assert caught.value.problems == (Problem("questions.b2.applies_to.ovz", "profile_not_asked"),)
