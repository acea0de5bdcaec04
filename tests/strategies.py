"""Hypothesis strategies for profiles (valid ones, with any field possibly unknown)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from knowledge import load_knowledge_base
from knowledge.models import NEEDS

_KB = load_knowledge_base()
COMMUNES = list(_KB.communes)
SECTORS = list(_KB.sectors)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


profiles = st.fixed_dictionaries(
    {},
    optional={
        "commune": _maybe(st.sampled_from(COMMUNES)),
        "sector": _maybe(st.sampled_from(SECTORS)),
        "operating": _maybe(st.booleans()),
        "months_operating": _maybe(st.integers(0, 600)),
        "formal": _maybe(st.booleans()),
        "workers": _maybe(st.integers(0, 300)),
        "monthly_sales_clp": _maybe(st.integers(0, 10**10)),
        "premises": _maybe(st.sampled_from(["none", "home", "separate"])),
        "surplus": _maybe(st.sampled_from(["none", "sometimes", "regular"])),
        "keeps_records": _maybe(st.booleans()),
        "main_need": _maybe(st.sampled_from(NEEDS)),
        "gender": _maybe(st.sampled_from(["female", "male", "other", "undisclosed"])),
        "age": _maybe(st.integers(0, 120)),
        "rsh_percentile": _maybe(st.integers(40, 100)),
    },
)
