"""What each «Срок проведения» text seen in real roadmaps becomes."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.duedates import Due, DueKind, parse_due, school_year_from_text, school_year_of

DATE, PERIOD, RECURRING, UNKNOWN = DueKind.DATE, DueKind.PERIOD, DueKind.RECURRING, DueKind.UNKNOWN


def d(text: str) -> date:
    day, month, year = map(int, text.split("."))
    return date(year, month, day)


# text, school year, kind, start, end, recurrence
TABLE: list[tuple[str, int | None, DueKind, date | None, date | None, str | None]] = [
    # seeds/roadmap_tech_cluster.txt, fixtures/roadmap_001.xlsx («на 2022-2023 учебный год»)
    ("до 04.10.2022 г.", 2022, DATE, None, d("04.10.2022"), None),
    ("до 20.10.2022г.", 2022, DATE, None, d("20.10.2022"), None),
    ("— 21.10.2022 г.", 2022, DATE, None, d("21.10.2022"), None),
    ("до 29.12.2023 г.", 2022, DATE, None, d("29.12.2023"), None),
    ("В течение учебного года", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("октябрь – декабрь 2022г.", 2022, PERIOD, d("01.10.2022"), d("31.12.2022"), None),
    ("5.01.2023 г. - 20.01.2023 г.", 2022, PERIOD, d("05.01.2023"), d("20.01.2023"), None),
    ("01.05.2023 г. - 05.05.2023 г.", 2022, PERIOD, d("01.05.2023"), d("05.05.2023"), None),
    ("февраль 2023 г.", 2022, PERIOD, d("01.02.2023"), d("28.02.2023"), None),
    ("По отдельному графику", 2022, RECURRING, None, None, "per_schedule"),
    (
        "В течение года (в соответствии с отдельными планами)",
        2022,
        RECURRING,
        d("01.09.2022"),
        d("31.05.2023"),
        "per_schedule",
    ),
    (
        "В течение года (в соответствии с отдельными планами)",
        None,
        RECURRING,
        None,
        None,
        "per_schedule",
    ),
    # seeds/school_report_kuznetsk.txt, fixtures/report_000.xlsx
    ("Август-сентябрь 2022 года", None, PERIOD, d("01.08.2022"), d("30.09.2022"), None),
    ("Август-октябрь 2022 года", None, PERIOD, d("01.08.2022"), d("31.10.2022"), None),
    ("В течение\n2022-23 учебного года", None, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("В  течение 2022-23 учебного года", None, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("Сентябрь 2022-апрель 2023", None, PERIOD, d("01.09.2022"), d("30.04.2023"), None),
    # seeds/regional_coordinator_report.txt, fixtures/report_002.xlsx
    ("Сентябрь- октябрь", 2022, PERIOD, d("01.09.2022"), d("31.10.2022"), None),
    ("Октябрь- декабрь", 2022, PERIOD, d("01.10.2022"), d("31.12.2022"), None),
    ("Сентябрь-декабрь", None, UNKNOWN, None, None, None),
    ("ноябрь", 2022, PERIOD, d("01.11.2022"), d("30.11.2022"), None),
    ("23.09.2022", None, DATE, d("23.09.2022"), d("23.09.2022"), None),
    ("5.12.2022", None, DATE, d("05.12.2022"), d("05.12.2022"), None),
    ("28.11- 29.11.2022", None, PERIOD, d("28.11.2022"), d("29.11.2022"), None),
    # seeds/municipal_500plus_report.txt
    ("март 2021г.", None, PERIOD, d("01.03.2021"), d("31.03.2021"), None),
    ("март-апрель 2021г.", None, PERIOD, d("01.03.2021"), d("30.04.2021"), None),
    ("март -апрель 2021г.", None, PERIOD, d("01.03.2021"), d("30.04.2021"), None),
    ("февраль-апрель", None, UNKNOWN, None, None, None),
    ("февраль-апрель", 2020, PERIOD, d("01.02.2021"), d("30.04.2021"), None),
    ("1 марта 2021г.", None, DATE, d("01.03.2021"), d("01.03.2021"), None),
    ("22 марта 2021г.", None, DATE, d("22.03.2021"), d("22.03.2021"), None),
    ("10.03.2021-15.03.2021", None, PERIOD, d("10.03.2021"), d("15.03.2021"), None),
    ("с 22.03.2021 по 22 04 2021", None, PERIOD, d("22.03.2021"), d("22.04.2021"), None),
    ("с 20.03.2021г. - по 30.03.2021г.", None, PERIOD, d("20.03.2021"), d("30.03.2021"), None),
    ("01.04.2021г. - 12.04.2021г.", None, PERIOD, d("01.04.2021"), d("12.04.2021"), None),
    ("до 06.03.2021г.", None, DATE, None, d("06.03.2021"), None),
    ("29.03.2021г.", None, DATE, d("29.03.2021"), d("29.03.2021"), None),
    (
        "Заседание муниципальной координационной группы проходит один раз в две недели",
        None,
        RECURRING,
        None,
        None,
        "biweekly",
    ),
    (
        "не реже 1 раза в неделю на стадии формирования дорожных карт; не реже 1 раза в 3-4 "
        "недели на стадии реализации дорожных карт.",
        None,
        RECURRING,
        None,
        None,
        "weekly",
    ),
    # Forms the brief asks for
    ("04.10.2022", None, DATE, d("04.10.2022"), d("04.10.2022"), None),
    ("5.01.2023 – 20.01.2023", None, PERIOD, d("05.01.2023"), d("20.01.2023"), None),
    ("5.01.2023—20.01.2023", None, PERIOD, d("05.01.2023"), d("20.01.2023"), None),
    ("с 5.01.2023 по 20.01.2023", None, PERIOD, d("05.01.2023"), d("20.01.2023"), None),
    ("Май 2023г.", None, PERIOD, d("01.05.2023"), d("31.05.2023"), None),
    ("май 2023 года", None, PERIOD, d("01.05.2023"), d("31.05.2023"), None),
    ("в мае 2023 года", None, PERIOD, d("01.05.2023"), d("31.05.2023"), None),
    ("II квартал 2023", None, PERIOD, d("01.04.2023"), d("30.06.2023"), None),
    ("IV квартал", 2022, PERIOD, d("01.10.2022"), d("31.12.2022"), None),
    ("I кв. 2023 г.", None, PERIOD, d("01.01.2023"), d("31.03.2023"), None),
    ("1 полугодие 2022-2023", None, PERIOD, d("01.09.2022"), d("31.12.2022"), None),
    ("II полугодие", 2022, PERIOD, d("01.01.2023"), d("31.05.2023"), None),
    ("I полугодие 2023 года", None, PERIOD, d("01.01.2023"), d("30.06.2023"), None),
    ("III четверть", 2022, PERIOD, d("01.01.2023"), d("31.03.2023"), None),
    ("Ежеквартально", None, RECURRING, None, None, "quarterly"),
    ("Ежемесячно", None, RECURRING, None, None, "monthly"),
    ("Еженедельно", None, RECURRING, None, None, "weekly"),
    ("Ежегодно", None, RECURRING, None, None, "yearly"),
    ("ежемесячно до 31.12.2022", None, RECURRING, None, d("31.12.2022"), "monthly"),
    ("2 раза в год", None, RECURRING, None, None, "half_yearly"),
    ("В течение учебного года", None, RECURRING, None, None, "ongoing"),
    ("В течение года", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("В течение года", None, RECURRING, None, None, "ongoing"),
    ("постоянно", 2022, RECURRING, None, None, "ongoing"),
    ("по мере необходимости", None, RECURRING, None, None, "per_schedule"),
    ("до 01.09.23", None, DATE, None, d("01.09.2023"), None),
    ("01/09/2023", None, DATE, d("01.09.2023"), d("01.09.2023"), None),
    ("сентябрь", 2022, PERIOD, d("01.09.2022"), d("30.09.2022"), None),
    ("январь", 2022, PERIOD, d("01.01.2023"), d("31.01.2023"), None),
    ("в январе", 2022, PERIOD, d("01.01.2023"), d("31.01.2023"), None),
    ("до 15 января", 2022, DATE, None, d("15.01.2023"), None),
    ("до 1 сентября 2023 года", None, DATE, None, d("01.09.2023"), None),
    ("1-15 марта 2023", None, PERIOD, d("01.03.2023"), d("15.03.2023"), None),
    ("декабрь 2022 - январь 2023", None, PERIOD, d("01.12.2022"), d("31.01.2023"), None),
    ("декабрь - январь 2023", None, PERIOD, d("01.12.2022"), d("31.01.2023"), None),
    ("сентябрь 2022 - май", None, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("май 2022-2023 учебного года", None, PERIOD, d("01.05.2023"), d("31.05.2023"), None),
    ("2022-2023 учебный год", None, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("до конца учебного года", 2022, DATE, None, d("31.05.2023"), None),
    ("к концу учебного года", 2022, DATE, None, d("31.05.2023"), None),
    ("до начала учебного года", 2022, DATE, None, d("01.09.2022"), None),
    ("до конца 2022 года", None, DATE, None, d("31.12.2022"), None),
    ("до октября 2022", None, DATE, None, d("01.10.2022"), None),
    ("2023 год", None, PERIOD, d("01.01.2023"), d("31.12.2023"), None),
    ("23.09.2022, 14.10.2022", None, PERIOD, d("23.09.2022"), d("14.10.2022"), None),
    # Phrasings of real plans (issue 17): «на протяжении» as «в течение», a comma before the year
    ("На протяжении года", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("на протяжении всего учебного года", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("На протяжении года", None, RECURRING, None, None, "ongoing"),
    ("В течении года", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("Весь год", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("весь учебный год", 2022, PERIOD, d("01.09.2022"), d("31.05.2023"), None),
    ("Круглогодично", None, RECURRING, None, None, "ongoing"),
    ("Декабрь, 2023", None, PERIOD, d("01.12.2023"), d("31.12.2023"), None),
    ("декабрь,2023 г.", 2022, PERIOD, d("01.12.2023"), d("31.12.2023"), None),
    ("Сентябрь, октябрь 2022", None, PERIOD, d("01.09.2022"), d("31.10.2022"), None),
    ("апрель-май, 2023", None, PERIOD, d("01.04.2023"), d("31.05.2023"), None),
    ("В летний период", 2022, PERIOD, d("01.06.2023"), d("31.08.2023"), None),
    ("летом 2023", None, PERIOD, d("01.06.2023"), d("31.08.2023"), None),
    ("в течение первого полугодия", 2022, PERIOD, d("01.09.2022"), d("31.12.2022"), None),
    # Nothing to read, or nonsense: UNKNOWN, never an exception
    ("31.02.2023", None, UNKNOWN, None, None, None),
    ("32.01.2023", None, UNKNOWN, None, None, None),
    ("20.01.2023 - 05.01.2023", None, UNKNOWN, None, None, None),
    ("01.13.2023", None, UNKNOWN, None, None, None),
    ("сентябрь", None, UNKNOWN, None, None, None),
    ("до конца учебного года", None, UNKNOWN, None, None, None),
    ("в течение месяца", None, UNKNOWN, None, None, None),
    ("с 01.09.2022", None, UNKNOWN, d("01.09.2022"), None, None),
    ("—", None, UNKNOWN, None, None, None),
    ("по согласованию", None, UNKNOWN, None, None, None),
]


@pytest.mark.parametrize(("text", "school_year", "kind", "start", "end", "recurrence"), TABLE)
def test_due_table(
    text: str,
    school_year: int | None,
    kind: DueKind,
    start: date | None,
    end: date | None,
    recurrence: str | None,
) -> None:
    assert parse_due(text, school_year=school_year) == Due(text, kind, start, end, recurrence)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_is_unknown_without_raw(text: str | None) -> None:
    assert parse_due(text) == Due(None, DueKind.UNKNOWN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ДОРОЖНАЯ КАРТА\nв МБОУ «СОШ №2»\nна 2022-2023 учебный год", 2022),
        ("План на 2022/2023 уч. год", 2022),
        ("Дорожная карта 2023–24 уч.г.", 2023),
        ("по итогам I полугодия 2022 — 2023 учебного года", 2022),
        ("Отчет за 2021-2023 годы и 2022-2023 учебный год", 2022),
        ("за период сентябрь – декабрь 2022г.", None),
        ("Отчет об участии МБОУ СОШ № 2 города Кузнецка", None),
    ],
)
def test_school_year_from_text(text: str, expected: int | None) -> None:
    assert school_year_from_text(text) == expected


def test_school_year_of() -> None:
    assert [school_year_of(d(text)) for text in ("31.08.2023", "01.09.2023")] == [2022, 2023]


_FRAGMENTS = st.sampled_from(
    [" ", "-", "–", "—", ".", "/", ",", "г.", "года", "до", "с", "по", "к", "конца", "течение",
     "учебного", "года", "ежемесячно", "раз в", "неделю", "квартал", "полугодие", "четверть",
     "II", "IV", "май", "мая", "сентябрь", "января", "31", "02", "2023", "23", "0", "99", "9999"]
)  # fmt: skip


@given(st.text(max_size=200), st.one_of(st.none(), st.integers(-(10**6), 10**6)))
def test_any_text_gives_a_due(text: str, school_year: int | None) -> None:
    due = parse_due(text, school_year=school_year)
    _assert_consistent(text, due)


@given(st.lists(_FRAGMENTS, max_size=12).map(" ".join), st.sampled_from([None, 2022]))
def test_date_like_text_gives_a_consistent_due(text: str, school_year: int | None) -> None:
    _assert_consistent(text, parse_due(text, school_year=school_year))


def _assert_consistent(text: str, due: Due) -> None:
    assert due.raw == (text if text.strip() else None)
    if due.kind in {DueKind.DATE, DueKind.PERIOD}:
        assert due.end is not None
    if due.start is not None and due.end is not None:
        assert due.start <= due.end
    assert (due.recurrence is not None) == (due.kind is DueKind.RECURRING)
