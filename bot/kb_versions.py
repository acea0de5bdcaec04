"""Knowledge-base versions kept in the database: every version ever published, which one serves, and its history.

`knowledge/` stays pure: it validates a set of data files (`knowledge.loader.validate_files`). This module keeps
such sets as versions (the files' text, so `ruta kb export` writes back exactly the YAML layout, comments and
all) and a publication log: the serving version is the one named by the newest publication, so publishing and
rolling back are both one new row, and nothing is ever overwritten.

On start the knowledge base shipped with the code (`knowledge/data`) is adopted: it seeds an empty database,
and a newer shipped version replaces a shipped one that serves; once staff have published their own, a newer
shipped version is only announced in the log (`ruta kb import` brings it in on purpose).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, desc, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage import Base, Store
from knowledge import KnowledgeBase
from knowledge.loader import DEFAULT_DATA_DIR, KnowledgeFiles, Problem, read_directory, validate_files

__all__ = [
    "InvalidKnowledge",
    "KnowledgeVersions",
    "Publication",
    "PublicationRow",
    "VersionRow",
    "checked_knowledge",
]

logger = logging.getLogger(__name__)
Origin = Literal["package", "import", "console"]
Action = Literal["seed", "package", "publish", "rollback"]
SYSTEM = "sistema"


class VersionRow(Base):
    """One knowledge base as its data files (relative path -> text), validated before it was kept."""

    __tablename__ = "kb_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    files: Mapped[dict[str, str]] = mapped_column(JSON)


class PublicationRow(Base):
    """A version put to serve (published, rolled back to, seeded); the newest row names the serving version."""

    __tablename__ = "kb_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("kb_versions.id"))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))


@dataclass(frozen=True)
class Publication:
    """What serves, since when, and why."""

    id: int
    version_id: int
    digest: str
    published_at: datetime
    author: str
    note: str
    action: str
    origin: str


class InvalidKnowledge(ValueError):
    """Files that do not make a valid knowledge base; `problems` say where, as `ruta kb validate` does."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def _text(files: KnowledgeFiles) -> dict[str, str]:
    return {path: content.decode("utf-8") for path, content in sorted(files.items())}


def checked_knowledge(files: KnowledgeFiles) -> KnowledgeBase:
    """The knowledge base of `files`, or InvalidKnowledge with every problem."""
    base, problems = validate_files(files)
    if base is None:
        raise InvalidKnowledge(problems)
    return base


class KnowledgeVersions:
    """Versions and publications in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    # -- reading ---------------------------------------------------------------------------------------------------

    def serving_id(self) -> int | None:
        """The newest publication's id (a cheap query: running bots ask it every few seconds)."""
        with self.store.engine.connect() as connection:
            table = PublicationRow.__table__
            return connection.execute(select(table.c.id).order_by(desc(table.c.id)).limit(1)).scalar()

    def serving(self) -> Publication | None:
        """The serving publication, with its version's digest and origin."""
        return next(iter(self.publications(limit=1)), None)

    def publications(self, limit: int = 50) -> list[Publication]:
        """The newest publications first."""
        query = (
            select(PublicationRow, VersionRow.digest, VersionRow.origin)
            .join(VersionRow, VersionRow.id == PublicationRow.version_id)
            .order_by(desc(PublicationRow.id))
            .limit(limit)
        )
        with self._session() as session:
            return [
                Publication(row.id, row.version_id, digest, row.published_at, row.author, row.note, row.action, origin)
                for row, digest, origin in session.execute(query)
            ]

    def versions(self) -> list[VersionRow]:
        """Every version kept, newest first (with their files)."""
        with self._session() as session:
            return list(session.scalars(select(VersionRow).order_by(desc(VersionRow.id))))

    def files(self, version_id: int) -> dict[str, bytes]:
        """The data files of one version; KeyError if there is no such version."""
        with self._session() as session:
            row = session.get(VersionRow, version_id)
        if row is None:
            raise KeyError(version_id)
        return {path: text.encode("utf-8") for path, text in row.files.items()}

    def _kept(self, digest: str) -> bool:
        with self.store.engine.connect() as connection:
            table = VersionRow.__table__
            return connection.execute(select(table.c.id).where(table.c.digest == digest).limit(1)).first() is not None

    # -- writing ---------------------------------------------------------------------------------------------------

    def publish_files(self, files: KnowledgeFiles, author: str, note: str, origin: Origin = "import") -> Publication:
        """Keep `files` as a new version (after the same validation as `ruta kb validate`) and publish it."""
        base = checked_knowledge(files)
        with self._session() as session, session.begin():
            version = VersionRow(
                digest=base.version,
                created_at=datetime.now(UTC),
                author=author,
                note=note,
                origin=origin,
                files=_text(files),
            )
            session.add(version)
            session.flush()
            action: Action = "publish" if origin != "package" else ("package" if self.serving_id() else "seed")
            self._publish(session, version.id, author, note, action)
        return self._require_serving()

    def rollback(self, version_id: int, author: str, note: str) -> Publication:
        """Serve an earlier version again (a new publication; the history keeps everything)."""
        checked_knowledge(self.files(version_id))  # a version that no longer validates is not put back to serve
        with self._session() as session, session.begin():
            self._publish(session, version_id, author, note, "rollback")
        return self._require_serving()

    def _publish(self, session: Session, version_id: int, author: str, note: str, action: Action) -> None:
        row = PublicationRow(
            version_id=version_id, published_at=datetime.now(UTC), author=author, note=note, action=action
        )
        session.add(row)

    def _require_serving(self) -> Publication:
        serving = self.serving()
        assert serving is not None  # just written
        return serving

    # -- the shipped knowledge base --------------------------------------------------------------------------------

    def adopt_package(self, directory: Path = DEFAULT_DATA_DIR) -> Publication:
        """Seed an empty database with the shipped knowledge base, or bring a newer shipped one in (see above)."""
        files = read_directory(directory)
        shipped = checked_knowledge(files).version
        serving = self.serving()
        if serving is None or (serving.origin == "package" and serving.digest != shipped):
            note = "conocimiento incluido en el programa (knowledge/data)"
            return self.publish_files(files, SYSTEM, note, origin="package")
        if serving.digest != shipped and not self._kept(shipped):
            logger.warning(
                "a newer shipped knowledge base is not served (staff published their own); `ruta kb import` brings it",
                extra={"event": "kb_package_not_adopted", "reason": shipped},
            )
        return serving


def export_files(files: KnowledgeFiles, directory: Path) -> None:
    """Write a version's files under `directory` in the knowledge base's layout (`ruta kb export`)."""
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
