"""Counts by one field and gender, with small cells suppressed so nobody can be singled out.

A cell with fewer than `min_cell` people is shown as "<5" and its share is not given. When a row (or a
column) has exactly one suppressed cell, the next smallest cell of that row is suppressed too, so the hidden
value cannot be recovered by subtracting the shown ones from the total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Cell", "CrossTab", "crosstab"]


@dataclass(frozen=True)
class Cell:
    count: int
    suppressed: bool
    share: float | None  # of the column total, when shown

    def shown(self, threshold: int) -> str:
        return f"<{threshold}" if self.suppressed else str(self.count)


@dataclass(frozen=True)
class CrossTab:
    """Rows are the values of one field, columns the groups compared (e.g. women and men)."""

    rows: list[Any]
    columns: list[Any]
    cells: dict[tuple[Any, Any], Cell]
    totals: dict[Any, int]
    min_cell: int

    def cell(self, row: Any, column: Any) -> Cell:
        return self.cells[(row, column)]


def crosstab(
    records: Iterable[dict[str, Any]],
    row_field: str,
    column_field: str,
    columns: Sequence[Any],
    min_cell: int,
    order: Sequence[Any] = (),
) -> CrossTab:
    """Counts of `row_field` values within each of `columns` (values of `column_field`); rows in `order` first,
    then the others alphabetically, unknown last."""
    counts: Counter[tuple[Any, Any]] = Counter()
    for record in records:
        if record.get(column_field) in columns:
            counts[(record.get(row_field), record[column_field])] += 1
    rank = {value: number for number, value in enumerate(order)}
    rows = sorted({row for row, _ in counts}, key=lambda v: (v is None, rank.get(v, len(rank)), str(v)))
    totals = {column: sum(n for (_, c), n in counts.items() if c == column) for column in columns}
    hidden = _suppressed(counts, rows, list(columns), min_cell)
    cells = {
        (row, column): Cell(
            counts[(row, column)],
            (row, column) in hidden,
            None if (row, column) in hidden or not totals[column] else counts[(row, column)] / totals[column],
        )
        for row in rows
        for column in columns
    }
    return CrossTab(rows, list(columns), cells, totals, min_cell)


def _suppressed(counts: Counter[tuple[Any, Any]], rows: list[Any], columns: list[Any], k: int) -> set[tuple[Any, Any]]:
    """Primary suppression (0 < n < k) and secondary suppression where a line has exactly one hidden cell."""
    hidden = {(r, c) for r in rows for c in columns if 0 < counts[(r, c)] < k}
    lines = [[(r, c) for c in columns] for r in rows] + [[(r, c) for r in rows] for c in columns]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(cell in hidden for cell in line) == 1:
                visible = [cell for cell in line if cell not in hidden and counts[cell] > 0]
                if visible:
                    hidden.add(min(visible, key=lambda cell: counts[cell]))
                    changed = True
    return hidden
