"""Small-cell suppression: nobody can be singled out by commune, sector, gender and age band.

The rule (documented in the README):
1. Rows whose combination of quasi-identifiers (analytics.yml: commune, sector, gender, age band) is shared by
   at least `min_cell` rows are kept as they are.
2. The other rows are generalised: the commune is blanked and only the province is kept. Those whose
   combination (province, sector, gender, age band) is then shared by at least `min_cell` generalised rows are
   kept that way.
3. What is still rarer is withheld, and only counted.
An unknown value counts as a value of its own ("sin dato"), so unknowns never hide a small cell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.analytics.rules import AnalyticsRules

__all__ = ["Suppressed", "suppress_small_cells"]

Row = dict[str, Any]


@dataclass
class Suppressed:
    rows: list[Row] = field(default_factory=list)
    generalised: int = 0
    withheld: int = 0


def _cells(rows: list[Row], key: Callable[[Row], tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(key(row) for row in rows)


def suppress_small_cells(rows: list[Row], rules: AnalyticsRules) -> Suppressed:
    """The rows safe to publish (order kept), with how many were generalised and withheld."""
    fine = tuple(rules.quasi_identifiers)
    coarse = tuple("province" if name == "commune" else name for name in fine)

    def by_commune(row: Row) -> tuple[Any, ...]:
        return tuple(row.get(name) for name in fine)

    def by_province(row: Row) -> tuple[Any, ...]:
        return tuple(row.get(name) for name in coarse)

    counts = _cells(rows, by_commune)
    rare = [row for row in rows if counts[by_commune(row)] < rules.min_cell]
    coarse_counts = _cells(rare, by_province)
    result = Suppressed()
    for row in rows:
        if counts[by_commune(row)] >= rules.min_cell:
            result.rows.append(row)
        elif coarse_counts[by_province(row)] >= rules.min_cell:
            result.rows.append({**row, "commune": None})
            result.generalised += 1
        else:
            result.withheld += 1
    return result
