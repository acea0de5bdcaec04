"""`ruta export`: anonymised diagnoses as CSV or Parquet, after small-cell suppression."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import IO, Any

from bot.analytics.records import COLUMNS, read_rows
from bot.analytics.rules import load_analytics_rules
from bot.analytics.suppression import Suppressed, suppress_small_cells
from bot.storage import Store
from knowledge import KnowledgeBase

__all__ = ["export_rows", "write_csv", "write_parquet"]


def export_rows(store: Store, kb: KnowledgeBase, since: date | None) -> Suppressed:
    """The publishable rows of every consented diagnosis made on or after `since`."""
    rules = load_analytics_rules()
    return suppress_small_cells(read_rows(store, kb, rules, since), rules)


def write_csv(rows: list[dict[str, Any]], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [row[name] for row in rows] for name in COLUMNS}
    pq.write_table(pa.table(columns), path)
