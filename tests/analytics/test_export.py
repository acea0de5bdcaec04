"""`ruta export` and retention over seeded synthetic diagnoses in a real SQLite file."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bot.analytics.export import export_rows
from bot.analytics.records import COLUMNS
from bot.analytics.reports import load_input
from bot.settings import Settings
from bot.storage import Store
from tests.analytics.synthetic import add_synthetic_diagnoses
from tests.ruta_process import run_ruta

COUNT = 2000


@pytest.fixture(scope="module")
def home(tmp_path_factory, kb) -> Path:
    home = tmp_path_factory.mktemp("export-home")
    add_synthetic_diagnoses(Store(f"sqlite:///{home / 'ruta.sqlite3'}"), kb, COUNT)
    return home


def _ruta(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ruta(home, *args, RUTA_RETENTION_MONTHS="0")


def test_csv_export_is_anonymised_and_totals_add_up(home):
    result = _ruta(home, "export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS
    generalised = sum(r["commune"] == "" for r in rows)
    withheld = COUNT - len(rows)
    assert (
        f"exported {len(rows)} diagnoses ({generalised} generalised to their province, {withheld} withheld"
        in result.stderr
    )
    assert withheld > 0 and generalised > 0
    assert {r["age_band"] for r in rows} <= {"menos de 30", "30 a 44", "45 a 59", "60 o más", "sin dato"}
    assert all(len(r["date"]) == 10 for r in rows)
    assert "synthetic-" not in result.stdout  # no pseudonym


def test_since_and_parquet(home, tmp_path):
    out = tmp_path / "since.parquet"
    result = _ruta(home, "export", "--format", "parquet", "--since", "2026-06-01", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert 0 < table.num_rows < COUNT
    assert min(table.column("date").to_pylist()) >= "2026-06-01"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "parquet"], "--out"), (["--since", "2026-13-01"], "YYYY-MM-DD"), (["--format", "xml"], "--format")],
)
def test_bad_options_exit_2_naming_them(home, args, message):
    result = _ruta(home, "export", *args)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize(
    ("now", "months", "cutoff"),
    [
        ("2026-03-31T10:00", 1, "2026-02-28T10:00"),
        ("2028-03-31T10:00", 1, "2028-02-29T10:00"),
        ("2026-01-15T00:00", 1, "2025-12-15T00:00"),
        ("2026-11-23T00:00", 24, "2024-11-23T00:00"),
    ],
)
def test_retention_cutoff_counts_calendar_months(now, months, cutoff):
    settings = Settings(retention_months=months)
    assert settings.retention_cutoff(datetime.fromisoformat(now)) == datetime.fromisoformat(cutoff)


def test_records_older_than_the_retention_period_are_deleted(tmp_path, kb, database_url):
    store = Store(database_url)
    old, recent = datetime(2023, 1, 10, tzinfo=UTC), datetime.now(UTC)
    store.add_diagnosis("a", {}, {}, "v", old)
    store.add_diagnosis("b", {}, {}, "v", recent)
    result = run_ruta(tmp_path, "purge", "--months", "12", RUTA_DATABASE_URL=database_url)
    assert result.returncode == 0 and "deleted 1 diagnoses" in result.stdout
    assert [record.user_key for record in store.diagnoses()] == ["b"]


def _report_data(store: Store, kb) -> tuple[list[dict[str, object]], dict[str, int]]:
    """What the export and the reports read of a database seeded like every other (synthetic diagnoses and a
    conversation in each phase)."""
    add_synthetic_diagnoses(store, kb, 300)
    for phase in ("consent", "form", "done"):
        store.save_state(f"k-{phase}", {"phase": phase})
    data = load_input(store, kb, "progress", date(2026, 3, 1), date(2026, 9, 30))
    return export_rows(store, kb, date(2026, 3, 1)).rows, dict(data.phases) | {"rows": len(data.rows)}


@pytest.mark.postgresql
def test_the_export_and_the_reports_read_the_same_from_postgresql(postgres_server, tmp_path, kb):
    with postgres_server.database() as url:
        on_postgresql = _report_data(Store(url), kb)
    assert on_postgresql == _report_data(Store(f"sqlite:///{tmp_path / 'ruta.sqlite3'}"), kb)
    assert on_postgresql[0] and on_postgresql[1]["rows"] > 0
