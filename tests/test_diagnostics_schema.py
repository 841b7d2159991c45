"""The questionnaire file format: every problem at once, each with its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.diagnostics import (
    AnswerError,
    Problem,
    QuestionnaireError,
    check_answer,
    load_questionnaire,
    parse_questionnaire,
    questionnaire_to_dict,
)
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


def problems_of(text: str) -> set[Problem]:
    with pytest.raises(QuestionnaireError) as caught:
        parse(text)
    return set(caught.value.problems)


ONE_DIRECTION = HEADER + '[[directions]]\ncode = "a"\ntitle = "А"\n'


def test_every_problem_of_one_question() -> None:
    found = problems_of(
        ONE_DIRECTION
        + """
[[questions]]
code = "q1"
direction = "a"
kind = "choice"
text = " "
weight = 0
colour = "red"
applies_to = {levels = ["ВУЗ"]}
"""
    )
    assert found == {
        Problem("questions.q1.text", "value_empty"),
        Problem("questions.q1.weight", "weight_invalid"),
        Problem("questions.q1.colour", "key_unknown"),
        Problem("questions.q1.options", "options_missing"),
        Problem("questions.q1.applies_to.levels", "school_level_unknown"),
    }


def test_options_are_checked_as_a_whole_despite_a_bad_option() -> None:
    found = problems_of(
        ONE_DIRECTION
        + """
[[questions]]
code = "s"
direction = "a"
kind = "scale"
text = "s"
points = 1
options = [
    {label = "x", points = 2}, {label = "X", points = -1}, {label = "y", points = 1},
    {label = 3, points = 0},
]
"""
    )
    assert found == {
        Problem("questions.s.points", "key_unexpected"),
        Problem("questions.s.options[1].points", "points_invalid"),
        Problem("questions.s.options[3].label", "type_invalid"),
        Problem("questions.s.options", "label_duplicate"),
        Problem("questions.s.options", "scale_unordered"),
    }


def test_yesno_questions_need_labels_or_options() -> None:
    question = '[[questions]]\ncode = "yn"\ndirection = "a"\nkind = "yesno"\ntext = "?"\n'
    without_labels = ONE_DIRECTION.replace('[yesno]\nno = "нет"\nyes = "да"\n', "")
    assert problems_of(without_labels + question) == {
        Problem("questions.yn.options", "yesno_labels_missing")
    }
    assert problems_of(ONE_DIRECTION + question + "points = 0\n") == {
        Problem("questions.yn.points", "points_invalid")
    }
    yes = parse(ONE_DIRECTION + question + "points = 2\n").question("yn")
    assert [(o.label, o.points) for o in yes.options] == [("нет", 0), ("да", 2)]


RISK = """
code = "r"
version = "1"
title = "Р"
kind = "risk_profile"

[thresholds]
medium = 0.4
high = 0.7

[[levels]]
code = "low"
title = "низкий"
[[levels]]
code = "medium"
title = "средний"
[[levels]]
code = "high"
title = "высокий"

[[respondents]]
code = "head"
title = "Руководитель"

[[directions]]
code = "d1"
title = "Д1"
[[directions]]
code = "d2"
title = "Д2"
found_at = 1.5

[[questions]]
code = "q1"
direction = "d1"
kind = "yesno"
text = "q1"
options = [{label = "нет", points = 0}, {label = "да", points = 1}]
respondent = "nobody"

[[questions]]
code = "q2"
direction = "d2"
kind = "yesno"
text = "q2"
options = [{label = "нет", points = 0}, {label = "да", points = 1}]
"""


def test_risk_factors_and_respondents() -> None:
    assert problems_of(RISK) == {
        Problem("directions[0].found_at", "value_missing"),
        Problem("directions[1].found_at", "share_out_of_range"),
        Problem("questions.q1.respondent", "respondent_unknown"),
        Problem("questions.q2.respondent", "value_missing"),
    }
    fixed = (
        RISK.replace('kind = "risk_profile"\n', 'kind = "risk_profile"\nfound_at = 0.5\n')
        .replace("found_at = 1.5", "found_at = 0.75")
        .replace('"nobody"', '"head"')
        .replace('text = "q2"\n', 'text = "q2"\nrespondent = "head"\n')
    )
    risk = parse(fixed)
    assert [d.found_at for d in risk.directions] == [0.5, 0.75]
    assert [q.respondent for q in risk.questions] == ["head", "head"]
    # found_at belongs to risk profiles only.
    assert problems_of(
        SMALL.replace('kind = "levels"\n', 'kind = "levels"\nfound_at = 0.5\n')
    ) == {Problem("found_at", "key_unexpected")}


def test_lists_thresholds_and_references() -> None:
    text = (
        HEADER.replace("basic = 0.4\n", "basic = 0.4\nexcellent = 0.9\n")
        .replace("high = 0.8\n", "")
        .replace('code = "medium"', 'code = "basic"')
        + """
[[directions]]
code = "a"
title = "А"
[[directions]]
code = "unused"
title = "Б"
thresholds = {basic = 0.5}

[[questions]]
code = "q1"
direction = "a"
kind = "yesno"
text = "q1"
[[questions]]
code = "q1"
direction = "a"
kind = "yesno"
text = "q1"
"""
    )
    assert problems_of(text) == {
        Problem("levels[2]", "code_duplicate"),
        Problem("thresholds.medium", "key_unknown"),
        Problem("thresholds.excellent", "key_unknown"),
        Problem("thresholds.basic", "thresholds_unordered"),
        Problem("thresholds.high", "value_missing"),
        Problem("directions[1].thresholds.basic", "thresholds_unordered"),
        Problem("directions[1].thresholds.high", "value_missing"),
        Problem("directions[1]", "direction_empty"),
        Problem("questions[1]", "code_duplicate"),
    }
    assert problems_of('code = "x"\nversion = "1"\ntitle = "Х"\nkind = "levels"\n') == {
        Problem("levels", "levels_too_few"),
        Problem("thresholds", "value_missing"),
        Problem("directions", "value_missing"),
        Problem("questions", "value_missing"),
    }


def test_a_document_that_is_not_a_table() -> None:
    with pytest.raises(QuestionnaireError) as caught:
        parse_questionnaire([])  # type: ignore[arg-type]
    assert caught.value.problems == (Problem("", "type_invalid"),)


def test_a_number_questions_range_is_data() -> None:
    """A share is 0-100 % because the questionnaire says so (issue 17.20), not the code."""
    found = problems_of(
        ONE_DIRECTION
        + """
[[questions]]
code = "share"
direction = "a"
kind = "number"
text = "Доля, %"
bands = [{min = 0, points = 0}]
range = {min = 100, max = 0}

[[questions]]
code = "yes"
direction = "a"
kind = "choice"
text = "Да?"
options = [{label = "нет", points = 0}, {label = "да", points = 1}]
range = {min = 0}
"""
    )
    assert found == {
        Problem("questions.share.range", "range_invalid"),
        Problem("questions.yes.range", "key_unexpected"),
    }
    questionnaire = parse(
        ONE_DIRECTION
        + """
[[questions]]
code = "share"
direction = "a"
kind = "number"
text = "Доля, %"
bands = [{min = 0, points = 0}]
range = {min = 0, max = 100}
"""
    )
    share = questionnaire.question("share")
    assert [share.in_range(v) for v in (-1, 0, 55.5, 100, 150)] == [False, True, True, True, False]
    with pytest.raises(AnswerError):
        check_answer(share, 150)
    # The range survives the trip through the database's stored definition.
    assert questionnaire_to_dict(questionnaire)["questions"][0]["range"] == {"min": 0, "max": 100}
