"""The staff console's working copy of the knowledge base and its audit log.

There is one shared draft: the first edit copies the serving version, every save writes one item into it
(after the same validation as `ruta kb validate`, so a draft is always a valid knowledge base), and publishing
turns it into a new version. Every save, publication and rollback writes the audit log, field by field: who,
when, what it was, what it became, and why. The log is only ever added to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, desc, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.kb_items import Item, item_data, with_item
from bot.kb_versions import KnowledgeVersions, Publication
from bot.storage import Base
from knowledge.loader import KnowledgeFiles, Problem, validate_files

__all__ = ["AuditRow", "DraftRow", "Drafts"]


class DraftRow(Base):
    """The shared working copy: the files as edited so far, from which version, until published or discarded."""

    __tablename__ = "kb_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    base_version_id: Mapped[int] = mapped_column(ForeignKey("kb_versions.id"))
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    """One change: an edited field, a publication, a rollback or a discarded draft."""

    __tablename__ = "kb_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    author: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    item: Mapped[str | None] = mapped_column(String(128), nullable=True)
    field: Mapped[str | None] = mapped_column(String(64), nullable=True)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class Saved:
    """What a save did: the fields it changed, or the problems that refused it."""

    changed: list[str]
    problems: list[Problem]


def _shown(value: Any) -> str | None:
    """A field's value as the audit log shows it (YAML for lists and blocks)."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, default_flow_style=True, width=4096).strip()
    return str(value)


def _as_text(files: KnowledgeFiles) -> dict[str, str]:
    return {path: content.decode("utf-8") for path, content in sorted(files.items())}


class Drafts:
    """The draft, its publication and the audit log, in the store's database."""

    def __init__(self, versions: KnowledgeVersions) -> None:
        self.versions = versions

    def _session(self) -> Session:
        return Session(self.versions.store.engine, expire_on_commit=False)

    def open_draft(self) -> DraftRow | None:
        with self._session() as session:
            query = select(DraftRow).where(DraftRow.closed_at.is_(None)).order_by(desc(DraftRow.id)).limit(1)
            return session.scalars(query).first()

    def files(self) -> dict[str, bytes]:
        """The draft's files, or the serving version's when nobody has edited yet."""
        draft = self.open_draft()
        if draft is not None:
            return {path: text.encode("utf-8") for path, text in draft.files.items()}
        serving = self.versions.serving()
        assert serving is not None, "adopt the shipped knowledge base first"
        return self.versions.files(serving.version_id)

    def save_item(self, item: Item, data: dict[str, Any], author: str, note: str = "") -> Saved:
        """Write one item into the draft if the knowledge base stays valid; log each changed field."""
        files = self.files()
        edited = with_item(files, item, data)
        problems = validate_files(edited)[1]
        if problems:
            return Saved([], problems)
        before, after = item_data(files, item), item_data(edited, item)
        changed = [key for key in dict.fromkeys([*before, *after]) if before.get(key) != after.get(key)]
        if not changed:
            return Saved([], [])
        now = datetime.now(UTC)
        with self._session() as session, session.begin():
            self._write_draft(session, edited, author, now)
            session.add_all(
                AuditRow(at=now, author=author, action="edit", file=item.file, item=item.key, field=key,
                         before=_shown(before.get(key)), after=_shown(after.get(key)), note=note)
                for key in changed
            )  # fmt: skip
        return Saved(changed, [])

    def _write_draft(self, session: Session, files: KnowledgeFiles, author: str, now: datetime) -> None:
        draft = session.scalars(select(DraftRow).where(DraftRow.closed_at.is_(None)).limit(1)).first()
        if draft is None:
            serving = self.versions.serving()
            assert serving is not None
            draft = DraftRow(base_version_id=serving.version_id, closed_at=None)
            session.add(draft)
        draft.files, draft.updated_at, draft.updated_by = _as_text(files), now, author

    def publish(self, author: str, note: str) -> Publication:
        """The draft becomes the serving version (running bots follow within seconds); the draft closes."""
        publication = self.versions.publish_files(self.files(), author, note, origin="console")
        self._close("publish", author, note, f"v{publication.version_id} {publication.digest}")
        return publication

    def rollback(self, version_id: int, author: str, note: str) -> Publication:
        publication = self.versions.rollback(version_id, author, note)
        self._log(AuditRow(action="rollback", author=author, note=note, after=f"v{version_id} {publication.digest}"))
        return publication

    def discard(self, author: str, note: str) -> None:
        self._close("discard", author, note, None)

    def _close(self, action: str, author: str, note: str, after: str | None) -> None:
        now = datetime.now(UTC)
        with self._session() as session, session.begin():
            for draft in session.scalars(select(DraftRow).where(DraftRow.closed_at.is_(None))):
                draft.closed_at = now
            session.add(AuditRow(at=now, action=action, author=author, note=note, after=after))

    def _log(self, row: AuditRow) -> None:
        row.at = datetime.now(UTC)
        with self._session() as session, session.begin():
            session.add(row)

    def audit(self, limit: int = 200) -> list[AuditRow]:
        """The newest changes first."""
        with self._session() as session:
            return list(session.scalars(select(AuditRow).order_by(desc(AuditRow.id)).limit(limit)))
