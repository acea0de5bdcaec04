"""Small-cell suppression: published cells always hold at least `min_cell` people; nothing else is lost."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from bot.analytics.rules import load_analytics_rules
from bot.analytics.suppression import suppress_small_cells

RULES = load_analytics_rules()
FINE = ("commune", "sector", "gender", "age_band")
COARSE = ("province", "sector", "gender", "age_band")


def _row(commune, province="copiapo", sector="comercio", gender="female", age_band="30 a 44"):
    return {"commune": commune, "province": province, "sector": sector, "gender": gender, "age_band": age_band}


def test_common_cells_pass_rare_ones_are_generalised_then_withheld():
    rows = [_row("copiapo")] * 5 + [_row("caldera")] * 3 + [_row("tierra_amarilla")] * 2 + [_row("vallenar", "huasco")]
    result = suppress_small_cells(rows, RULES)
    assert [r["commune"] for r in result.rows] == ["copiapo"] * 5 + [None] * 5
    assert (result.generalised, result.withheld) == (5, 1)


def test_unknown_values_are_a_value_of_their_own():
    rows = [_row("copiapo", age_band="sin dato")] * 4 + [_row("copiapo")] * 5
    result = suppress_small_cells(rows, RULES)
    assert result.withheld == 4


rows_strategy = st.lists(
    st.builds(
        _row,
        commune=st.sampled_from(["copiapo", "caldera", "vallenar", "huasco"]),
        province=st.sampled_from(["copiapo", "huasco"]),
        sector=st.sampled_from(["comercio", "agro"]),
        gender=st.sampled_from(["female", "male", None]),
        age_band=st.sampled_from(["menos de 30", "60 o más"]),
    ),
    max_size=80,
)


@given(rows_strategy)
def test_every_published_cell_holds_at_least_min_cell_people(rows):
    result = suppress_small_cells(rows, RULES)
    assert len(result.rows) + result.withheld == len(rows)
    kept = [r for r in result.rows if r["commune"] is not None]
    generalised = [r for r in result.rows if r["commune"] is None]
    assert len(generalised) == result.generalised
    assert all(n >= RULES.min_cell for n in Counter(tuple(r[k] for k in FINE) for r in kept).values())
    assert all(n >= RULES.min_cell for n in Counter(tuple(r[k] for k in COARSE) for r in generalised).values())


def test_age_bands():
    assert [RULES.age_band(a) for a in (None, 17, 29, 30, 44, 45, 59, 60, 99)] == [
        "sin dato",
        "menos de 30",
        "menos de 30",
        "30 a 44",
        "30 a 44",
        "45 a 59",
        "45 a 59",
        "60 o más",
        "60 o más",
    ]
