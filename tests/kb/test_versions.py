"""Knowledge-base versions in the database: seeding from the shipped files, publishing, rolling back, following
the newest publication in a running process, and refusing a version that does not load."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.kb_live import LiveKnowledge
from bot.kb_versions import InvalidKnowledge, KnowledgeVersions, PublicationRow, VersionRow, export_files
from bot.storage import Store
from knowledge.loader import DEFAULT_DATA_DIR, read_directory, validate_files

OFFICE = b"  address: null\n"


def _with_address(files: dict[str, bytes], address: str) -> dict[str, bytes]:
    """The files with the first office's address filled."""
    offices = files["offices.yml"]
    assert OFFICE in offices
    return {**files, "offices.yml": offices.replace(OFFICE, f'  address: "{address}"\n'.encode(), 1)}


def _first_office_address(live: LiveKnowledge) -> str | None:
    return next(iter(live.current().offices.values())).address


@pytest.fixture
def versions(database_url: str) -> KnowledgeVersions:
    return KnowledgeVersions(Store(database_url))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_empty_database_is_seeded_with_the_shipped_files_once(versions):
    first = versions.adopt_package()
    again = versions.adopt_package()
    assert first == again and first.action == "seed" and first.origin == "package"
    assert first.digest == validate_files(read_directory())[0].version  # the same version id as the files
    assert versions.files(first.version_id) == read_directory()


def test_publish_and_rollback_are_new_rows_and_nothing_is_lost(versions):
    seeded = versions.adopt_package()
    published = versions.publish_files(_with_address(read_directory(), "Chacabuco 520"), "ana", "dirección Sercotec")
    back = versions.rollback(seeded.version_id, "pedro", "vuelvo atrás")
    assert published.action == "publish" and published.author == "ana" and published.note == "dirección Sercotec"
    assert back.version_id == seeded.version_id and back.action == "rollback"
    assert [p.action for p in versions.publications()] == ["rollback", "publish", "seed"]
    assert len(versions.versions()) == 2


def test_an_invalid_version_is_refused_with_every_problem(versions):
    versions.adopt_package()
    broken = {**read_directory(), "calls.yml": b"- instrument: no_such_thing\n"}
    with pytest.raises(InvalidKnowledge) as refused:
        versions.publish_files(broken, "ana", "roto")
    assert any(problem.file == "calls.yml" for problem in refused.value.problems)
    assert [p.action for p in versions.publications()] == ["seed"]


def test_a_running_process_follows_the_newest_publication(versions):
    versions.adopt_package()
    clock = Clock()
    live = LiveKnowledge(versions, refresh_seconds=2.0, clock=clock)
    versions.publish_files(_with_address(read_directory(), "Chacabuco 520"), "ana", "dirección")
    assert _first_office_address(live) is None  # not before the refresh period
    clock.now = 2.0
    assert _first_office_address(live) == "Chacabuco 520"
    versions.rollback(versions.publications()[-1].version_id, "pedro", "atrás")
    clock.now = 4.0
    assert _first_office_address(live) is None


def test_a_version_that_fails_to_load_never_replaces_the_serving_one(versions, caplog):
    versions.adopt_package()
    clock = Clock()
    live = LiveKnowledge(versions, refresh_seconds=1.0, clock=clock)
    serving = live.current()
    with versions._session() as session, session.begin():  # a version written by something else, broken
        now = datetime.now(UTC)
        bad = VersionRow(digest="x", created_at=now, author="x", note="x", origin="import", files={"a.yml": "- ["})
        session.add(bad)
        session.flush()
        session.add(PublicationRow(version_id=bad.id, published_at=now, author="x", note="x", action="publish"))
    caplog.set_level(logging.INFO)
    for second in (1.0, 2.0, 3.0):
        clock.now = second
        assert live.current() is serving
    refusals = [r for r in caplog.records if getattr(r, "event", "") == "kb_refused"]
    assert len(refusals) == 1  # logged once, not at every check


def test_a_newer_shipped_version_replaces_a_shipped_one_but_not_staff_work(versions, tmp_path, caplog):
    versions.adopt_package()
    newer = tmp_path / "data"
    export_files(_with_address(read_directory(), "Atacama 1"), newer)
    assert versions.adopt_package(newer).action == "package"
    versions.publish_files(_with_address(read_directory(), "Staff 2"), "ana", "de la oficina")
    export_files(_with_address(read_directory(), "Atacama 3"), newer)
    caplog.set_level(logging.WARNING)
    assert versions.adopt_package(newer).author == "ana"
    assert any(getattr(r, "event", "") == "kb_package_not_adopted" for r in caplog.records)


def test_export_writes_the_layout_back_exactly(versions, tmp_path):
    seeded = versions.adopt_package()
    export_files(versions.files(seeded.version_id), tmp_path / "out")
    assert read_directory(tmp_path / "out") == read_directory(DEFAULT_DATA_DIR)
