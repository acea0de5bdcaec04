"""Tests for the Chilean Spanish number / money / duration parser (nlu.numbers)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.numbers import NumberMatch, find_numbers, parse_duration_months, parse_money, parse_number

# (text, [(entity, value, matched span, role), ...])
CASES: list[tuple[str, list[tuple[str, int, str, str | None]]]] = [
    # digits
    ("3", [("number", 3, "3", None)]),
    ("52", [("number", 52, "52", None)]),
    ("1.500", [("number", 1500, "1.500", None)]),
    ("1.500.000", [("money", 1500000, "1.500.000", None)]),
    ("1500000", [("money", 1500000, "1500000", None)]),
    ("1,5", [("number", 2, "1,5", None)]),
    ("$1.500.000", [("money", 1500000, "$1.500.000", None)]),
    ("$ 800.000", [("money", 800000, "$ 800.000", None)]),
    ("800 mil", [("money", 800000, "800 mil", None)]),
    ("como 1700 mil pesos", [("money", 1700000, "1700 mil pesos", None)]),
    ("800mil", [("money", 800000, "800mil", None)]),
    ("800k", [("money", 800000, "800k", None)]),
    ("5.000 pesos", [("money", 5000, "5.000 pesos", None)]),
    ("2 millones de pesos", [("money", 2000000, "2 millones de pesos", None)]),
    ("$1,500", [("money", 1500, "$1,500", None)]),
    ("1.500,5 pesos", [("money", 1501, "1.500,5 pesos", None)]),
    # words
    ("cinco", [("number", 5, "cinco", None)]),
    ("veintidos", [("number", 22, "veintidos", None)]),
    ("Veintidós", [("number", 22, "Veintidós", None)]),
    ("veinti uno", [("number", 21, "veinti uno", None)]),
    ("treinta y cinco", [("number", 35, "treinta y cinco", None)]),
    ("cien", [("number", 100, "cien", None)]),
    ("ciento veinte", [("number", 120, "ciento veinte", None)]),
    ("dos mil diecinueve", [("number", 2019, "dos mil diecinueve", None)]),
    ("dos cinco", [("number", 2, "dos", None), ("number", 5, "cinco", None)]),
    ("cinco, seis", [("number", 5, "cinco", None), ("number", 6, "seis", None)]),
    ("SINCO", [("number", 5, "SINCO", None)]),
    # money: words and slang
    ("un millón y medio", [("money", 1500000, "un millón y medio", None)]),
    ("un millon", [("money", 1000000, "un millon", None)]),
    ("dos millones", [("money", 2000000, "dos millones", None)]),
    ("dos millones quinientos mil", [("money", 2500000, "dos millones quinientos mil", None)]),
    ("medio millón", [("money", 500000, "medio millón", None)]),
    ("800 lucas", [("money", 800000, "800 lucas", None)]),
    ("una luca", [("money", 1000, "una luca", None)]),
    ("5 lucas", [("money", 5000, "5 lucas", None)]),
    ("300 lukas", [("money", 300000, "300 lukas", None)]),
    ("quinientas lucas", [("money", 500000, "quinientas lucas", None)]),
    ("5 palos", [("money", 5000000, "5 palos", None)]),
    ("medio palo", [("money", 500000, "medio palo", None)]),
    ("un palo y medio", [("money", 1500000, "un palo y medio", None)]),
    ("2,5 millones", [("money", 2500000, "2,5 millones", None)]),
    ("1.5 millones", [("money", 1500000, "1.5 millones", None)]),
    ("1.500 millones", [("money", 1500000000, "1.500 millones", None)]),
    ("5MM", [("money", 5000000, "5MM", None)]),
    ("5 M", [("money", 5000000, "5 M", None)]),
    ("vendo como 800 mil al mes", [("money", 800000, "800 mil", None)]),
    ("vendo 1500 al día", [("money", 1500, "1500", None)]),
    ("gano 350000 mensuales", [("money", 350000, "350000", None)]),
    # durations
    ("hace 4 años", [("duration", 48, "4 años", None)]),
    ("4 años", [("duration", 48, "4 años", None)]),
    ("hace como 2 años", [("duration", 24, "2 años", None)]),
    ("8 meses", [("duration", 8, "8 meses", None)]),
    ("hace un año", [("duration", 12, "un año", None)]),
    ("año y medio", [("duration", 18, "año y medio", None)]),
    ("un año y medio", [("duration", 18, "un año y medio", None)]),
    ("dos años y medio", [("duration", 30, "dos años y medio", None)]),
    ("medio año", [("duration", 6, "medio año", None)]),
    ("2 semanas", [("duration", 0, "2 semanas", None)]),
    ("hace 2 años y 6 meses", [("duration", 30, "2 años y 6 meses", None)]),
    ("llevo 3 años vendiendo", [("duration", 36, "3 años", None)]),
    ("tengo 30 años en el rubro", [("duration", 360, "30 años", None)]),
    ("tengo 3 años con el negocio", [("duration", 36, "3 años", None)]),
    ("hace poquito", []),
    ("recien empece", []),
    # roles
    (
        "tengo un almacén en Vallenar hace 4 años, somos 2",
        [("duration", 48, "4 años", None), ("number", 2, "2", "workers")],
    ),
    ("somos 3", [("number", 3, "3", "workers")]),
    ("3 trabajadores", [("number", 3, "3", "workers")]),
    ("trabajamos 4", [("number", 4, "4", "workers")]),
    ("somos 2 con mi hija", [("number", 2, "2", "workers")]),
    ("tengo 2 empleados", [("number", 2, "2", "workers")]),
    ("somos como cinco", [("number", 5, "cinco", "workers")]),
    ("solo yo", [("number", 1, "solo yo", "workers")]),
    ("yo nomás", [("number", 1, "yo nomás", "workers")]),
    ("Sólo yo.", [("number", 1, "Sólo yo", "workers")]),
    ("yo sola", [("number", 1, "yo sola", "workers")]),
    ("yo solo", [("number", 1, "yo solo", "workers")]),
    ("yo solo vendo pan", []),
    ("solo yo y mi hija", []),
    ("tengo 52 años", [("number", 52, "52 años", "age")]),
    ("52 años de edad", [("number", 52, "52 años de edad", "age")]),
    ("cumplí 60", [("number", 60, "60", "age")]),
    ("mi edad es 45", [("number", 45, "45", "age")]),
    ("tengo 52 años y hace 3 años vendo", [("number", 52, "52 años", "age"), ("duration", 36, "3 años", None)]),
    ("estoy en el 40%", [("number", 40, "40%", "rsh")]),
    ("el 40", [("number", 40, "40", "rsh")]),
    ("tramo 40", [("number", 40, "40", "rsh")]),
    ("tramo del 60", [("number", 60, "60", "rsh")]),
    ("40 por ciento", [("number", 40, "40 por ciento", "rsh")]),
    # not numbers / noise
    ("tengo un almacén", []),
    ("estoy medio cansado", []),
    ("mi rut es 12.345.678-9", []),
    ("desde el 2019", [("number", 2019, "2019", None)]),
    ("", []),
    ("🙂🙂 <b>hola</b>; DROP TABLE users; --", []),
]


def _as_tuples(text: str, matches: list[NumberMatch]) -> list[tuple[str, int, str, str | None]]:
    return [(m.entity, m.value, text[m.start : m.end], m.role) for m in matches]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[case[0][:40] or "<empty>" for case in CASES])
def test_find_numbers_table(text: str, expected: list[tuple[str, int, str, str | None]]) -> None:
    assert _as_tuples(text, find_numbers(text)) == expected


def test_table_is_large() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("800 lucas", 800000),
        ("$1.500.000", 1500000),
        ("un millón y medio", 1500000),
        ("5 palos", 5000000),
        ("vendo unos 800 mil al mes", 800000),
        ("800000", 800000),
        ("tengo 52 años", None),
        ("nada", None),
    ],
)
def test_parse_money(text: str, expected: int | None) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hace 4 años", 48),
        ("año y medio", 18),
        ("6 meses", 6),
        ("2 semanas", 0),
        ("3 semanas", 1),
        ("dos años y medio", 30),
        ("tengo 20 años", 240),  # asked for a duration: years are the business's age
        ("4", None),
        ("hace poquito", None),
    ],
)
def test_parse_duration_months(text: str, expected: int | None) -> None:
    assert parse_duration_months(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cinco", 5),
        ("veintidos", 22),
        ("1.500", 1500),
        ("uno", 1),
        ("una", 1),
        ("tengo un almacén, somos 2", 2),
        ("52 años", 52),
        ("800 lucas", 800000),
        ("cero", 0),
        ("hola", None),
    ],
)
def test_parse_number(text: str, expected: int | None) -> None:
    assert parse_number(text) == expected


def test_number_match_is_frozen() -> None:
    match = NumberMatch("number", 1, 0, 1)
    with pytest.raises(AttributeError):
        match.value = 2  # type: ignore[misc]


def test_long_text_is_fast() -> None:
    text = ("vendo 800 lucas al mes hace 4 años somos 2 🙂 <b>x</b> '; DROP TABLE t; -- " * 200)[:10_000]
    chunks = ["1" * 5000, "1," * 5000, "mil " * 2500, "y medio " * 1200, " " * 10_000 + "x", text]
    started = time.perf_counter()
    for chunk in chunks:
        assert isinstance(find_numbers(chunk), list)
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------------------------------------- properties

_UNITS = ["", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
_TEENS = ["diez", "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve"]
_TWENTIES = ["veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis"]
_TWENTIES += ["veintisiete", "veintiocho", "veintinueve"]
_TENS = ["", "", "", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]
_HUNDREDS = ["", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos"]
_HUNDREDS += ["setecientos", "ochocientos", "novecientos"]


def _below_100(n: int, before_mil: bool) -> str:
    if n < 10:
        return "un" if n == 1 and before_mil else _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 30:
        return "veintiún" if n == 21 and before_mil else _TWENTIES[n - 20]
    tens, unit = divmod(n, 10)
    if not unit:
        return _TENS[tens]
    return f"{_TENS[tens]} y {'un' if unit == 1 and before_mil else _UNITS[unit]}"


def _below_1000(n: int, before_mil: bool = False) -> str:
    hundreds, rest = divmod(n, 100)
    if n == 100:
        return "cien"
    words = [_HUNDREDS[hundreds]] if hundreds else []
    if rest:
        words.append(_below_100(rest, before_mil))
    return " ".join(words)


def spell(n: int) -> str:
    """Spanish words for 0 <= n < 1_000_000 ("veintiún mil ciento uno")."""
    if n == 0:
        return "cero"
    thousands, rest = divmod(n, 1000)
    words = []
    if thousands:
        words.append("mil" if thousands == 1 else f"{_below_1000(thousands, before_mil=True)} mil")
    if rest:
        words.append(_below_1000(rest))
    return " ".join(words)


def test_spell_helper() -> None:
    assert spell(21_101) == "veintiún mil ciento uno"
    assert spell(100_000) == "cien mil"
    assert spell(31_000) == "treinta y un mil"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_valid_spans(text: str) -> None:
    matches = find_numbers(text)
    assert isinstance(matches, list)
    previous_end = 0
    for match in matches:
        assert 0 <= match.start < match.end <= len(text)
        assert match.start >= previous_end
        assert match.entity in ("number", "money", "duration")
        assert isinstance(match.value, int)
        assert match.value >= 0
        previous_end = match.end
    parse_money(text)
    parse_number(text)
    parse_duration_months(text)


_NUMBERISH = st.sampled_from(
    [
        "3",
        "1.500",
        "$",
        "%",
        "mil",
        "millones",
        "lucas",
        "y",
        "medio",
        "años",
        "hace",
        "somos",
        "tengo",
        "el",
        "yo",
        "solo",
        "un",
        "veinti",
        "treinta",
        "de",
        "pesos",
        "2,5",
        "M",
        "-",
        "9",
        "k",
        ",",
        "edad",
        "por",
        "ciento",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_NUMBERISH, st.text(max_size=3)), max_size=30), st.sampled_from(["", " ", "  ", "\n"]))
def test_numberish_soup_gives_valid_spans(parts: list[str], sep: str) -> None:
    text = sep.join(parts)
    previous_end = 0
    for match in find_numbers(text):
        assert previous_end <= match.start < match.end <= len(text)
        previous_end = match.end


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_chilean_peso_format_round_trips(n: int) -> None:
    text = "$" + f"{n:,}".replace(",", ".")
    assert _as_tuples(text, find_numbers(text)) == [("money", n, text, None)]
    assert parse_money(text) == n


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=999_999), st.booleans())
def test_spelled_numbers_round_trip(n: int, upper: bool) -> None:
    text = spell(n).upper() if upper else spell(n)
    assert parse_number(text) == n


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=100_000))
def test_durations_round_trip(n: int) -> None:
    assert parse_duration_months(f"hace {n} años") == 12 * n
    assert parse_duration_months(f"{n} meses") == n
    assert [(m.entity, m.value) for m in find_numbers(f"hace {n} años")] == [("duration", 12 * n)]
