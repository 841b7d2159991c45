"""Small questionnaires written for the tests of models/diagnostics/."""

from __future__ import annotations

import tomllib

from models.diagnostics import Questionnaire, parse_questionnaire

HEADER = """
code = "t"
version = "1"
title = "Т"
kind = "levels"

[thresholds]
basic = 0.4
medium = 0.6
high = 0.8

[yesno]
no = "нет"
yes = "да"

[[levels]]
code = "below_basic"
title = "ниже базового"
[[levels]]
code = "basic"
title = "базовый"
[[levels]]
code = "medium"
title = "средний"
[[levels]]
code = "high"
title = "высокий"

[[profile]]
code = "levels"
text = "Уровни"
[[profile]]
code = "ovz"
text = "ОВЗ"
"""

SMALL = (
    HEADER
    + """
[[directions]]
code = "a"
title = "А"
[[directions]]
code = "b"
title = "Б"

[[questions]]
code = "a1"
direction = "a"
kind = "yesno"
points = 2
text = "a1"

[[questions]]
code = "a2"
direction = "a"
kind = "choice"
weight = 2
text = "a2"
options = [{label = "x", points = 0}, {label = "y", points = 1}, {label = "z", points = 3}]

[[questions]]
code = "a3"
direction = "a"
kind = "number"
text = "a3"
bands = [{min = 0, max = 10, points = 0}, {min = 10, max = 20, points = 1}, {min = 20, points = 2}]

[[questions]]
code = "b1"
direction = "b"
kind = "choice"
text = "b1"
options = [{label = "x", points = 0}, {label = "y", points = 1}, {label = "z", points = 2}]
applies_to = {levels = ["СОО"]}

[[questions]]
code = "b2"
direction = "b"
kind = "scale"
text = "b2"
options = [{label = "x", points = 0}, {label = "y", points = 1}, {label = "z", points = 2}]
applies_to = {ovz = true}

[[questions]]
code = "b3"
direction = "b"
kind = "text"
text = "b3"

[[questions]]
code = "b4"
direction = "b"
kind = "yesno"
text = "b4"
deficit = "нет b4"
allow_unknown = false
"""
)


def parse(text: str) -> Questionnaire:
    return parse_questionnaire(tomllib.loads(text))
