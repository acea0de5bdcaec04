"""Staff accounts of the console: a name, a role and an argon2 hash of the password; lockout after failures.

Roles: `editor` (edits the draft), `publisher` (also publishes and rolls back), `analyst` (reports and exports
only), `advisor` (attends people who show their hand-off code, only; editors and publishers may too). There is no
default account and no default password: the first one is made with `ruta admin create-user NAME --role publisher`.
A password is never stored or logged in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage import Base, Store

__all__ = ["ROLES", "AccountError", "Role", "StaffAccount", "StaffAccountRow", "StaffAccounts"]

Role = Literal["editor", "publisher", "analyst", "advisor"]
ROLES: tuple[str, ...] = get_args(Role)
MIN_PASSWORD = 12
NAME_MAX = 64
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("a password nobody has: unknown users cost the same time")


class StaffAccountRow(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class StaffAccount:
    """Who is signed in: a name and a role (never the hash)."""

    name: str
    role: str


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why, in plain words."""


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class StaffAccounts:
    """Accounts in the store's database, with lockout after `max_failures` wrong passwords in a row."""

    def __init__(self, store: Store, max_failures: int = 5, lockout: timedelta = timedelta(minutes=15)) -> None:
        self.store = store
        self.max_failures = max_failures
        self.lockout = lockout

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def create(self, name: str, role: str, password: str) -> StaffAccount:
        _check(name, role, password)
        now = datetime.now(UTC)
        with self._session() as session, session.begin():
            if session.scalars(select(StaffAccountRow).where(StaffAccountRow.username == name)).first():
                raise AccountError(f"NAME: the account {name!r} already exists")
            session.add(StaffAccountRow(username=name, role=role, password_hash=_HASHER.hash(password),
                                        failed_attempts=0, created_at=now, password_changed_at=now))  # fmt: skip
        return StaffAccount(name, role)

    def reset_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self._session() as session, session.begin():
            row = self._row(session, name)
            if row is None:
                raise AccountError(f"NAME: no account {name!r}")
            row.password_hash, row.password_changed_at = _HASHER.hash(password), datetime.now(UTC)
            row.failed_attempts, row.locked_until = 0, None

    def account(self, name: str) -> StaffAccount | None:
        with self._session() as session:
            row = self._row(session, name)
            return None if row is None else StaffAccount(row.username, row.role)

    def sign_in(self, name: str, password: str, now: datetime | None = None) -> StaffAccount | None:
        """The account if the password is right and the account is not locked; a failure counts toward lockout."""
        now = now or datetime.now(UTC)
        with self._session() as session, session.begin():
            row = self._row(session, name[:NAME_MAX])
            if row is None:
                _verify(_DUMMY_HASH, password)
                return None
            locked = _aware(row.locked_until)
            if locked is not None and locked > now:
                return None
            if not _verify(row.password_hash, password):
                row.failed_attempts += 1
                if row.failed_attempts >= self.max_failures:
                    row.locked_until, row.failed_attempts = now + self.lockout, 0
                return None
            row.failed_attempts, row.locked_until = 0, None
            return StaffAccount(row.username, row.role)

    def _row(self, session: Session, name: str) -> StaffAccountRow | None:
        return session.scalars(select(StaffAccountRow).where(StaffAccountRow.username == name)).first()


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _check(name: str, role: str, password: str) -> None:
    if not name or len(name) > NAME_MAX or not name.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccountError(f"NAME: use letters, digits, '.', '-' or '_' (at most {NAME_MAX}), got {name[:80]!r}")
    if role not in ROLES:
        raise AccountError(f"--role: must be one of {', '.join(ROLES)}, got {role!r}")
    _check_password(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
