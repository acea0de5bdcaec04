"""Configuration from `RUTA_*` environment variables (pydantic-settings), with zero-set-up defaults."""

from __future__ import annotations

import calendar
import os
import secrets
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from nlu.parse import NluBackend

__all__ = ["PseudonymKeyError", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = Path.home() / ".ruta-emprende"


class Settings(BaseSettings):
    """Every setting can be given as an environment variable `RUTA_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="RUTA_", extra="ignore")

    home: Path = Field(default=DEFAULT_HOME, description="Where the default database, key and caches live.")
    database_url: str | None = Field(default=None, description="Any SQLAlchemy URL; default a SQLite file in home.")
    pseudonym_key: str | None = Field(default=None, description="HMAC key for user pseudonyms; default a random key.")
    nlu_backend: Literal["embedded", "rasa"] = "embedded"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = Field(default=2.0, gt=0, description="Seconds before a Rasa parse falls back.")
    rasa_breaker_failures: int = Field(
        default=3, ge=1, description="Rasa failures in a row after which the embedded NLU parses for a cool-down."
    )
    rasa_breaker_cooldown: float = Field(
        default=30.0, gt=0, description="Seconds between probes of Rasa's /status while its breaker is open."
    )
    nlu_cache: Path | None = Field(default=None, description="Where trained NLU models are cached (home/cache).")
    timezone: str = Field(default="America/Santiago", description="Whose calendar day deadlines count from.")
    telegram_token: str | None = Field(default=None, description="The bot's token from @BotFather.")
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot", description="Bot API base URL (a local Bot API server)."
    )
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL of `ruta serve`'s /telegram; set = webhook mode."
    )
    telegram_webhook_secret: str | None = Field(
        default=None, description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode)."
    )
    whatsapp_token: str | None = Field(default=None, description="WhatsApp Cloud API access token.")
    whatsapp_phone_number_id: str | None = Field(default=None, description="The business phone number's id.")
    whatsapp_app_secret: str | None = Field(default=None, description="Meta app secret (X-Hub-Signature-256).")
    whatsapp_verify_token: str | None = Field(default=None, description="Token Meta echoes when verifying.")
    whatsapp_api_url: str = Field(default="https://graph.facebook.com/v21.0", description="Graph API base URL.")
    whatsapp_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for the Graph API's answer to a send before trying again."
    )
    retention_months: int = Field(
        default=24, ge=0, description="Diagnoses and conversations older than this are deleted (0: keep all)."
    )
    max_request_bytes: int = Field(default=256_000, gt=0, description="Larger webhook bodies get 413.")
    outbox_flush_seconds: float = Field(
        default=5.0, ge=0, description="At a stop, how long the replies still waiting may take to go out."
    )
    outbox_max_age_hours: float = Field(
        default=24.0, gt=0, description="A reply not delivered by then is dropped (WhatsApp's service window)."
    )
    outbox_lease_seconds: float = Field(
        default=20.0, gt=0, description="How long a sender holds the replies it claimed; after a crash they wait this."
    )
    processed_ids_days: float = Field(
        default=7.0, gt=0, description="How long the ids of processed messages are kept to spot re-deliveries."
    )
    handoff_code_days: int = Field(
        default=14, ge=1, description="How many days the code a person shows a human advisor stays valid."
    )
    kb_refresh_seconds: float = Field(
        default=2.0, gt=0, description="How often a running bot checks for a newly published knowledge base."
    )
    admin_secret: str | None = Field(
        default=None, description="Signs the staff console's session cookies; set = the console is served."
    )
    admin_session_hours: float = Field(default=8.0, gt=0, description="A console session lasts this long.")
    admin_max_failures: int = Field(default=5, ge=1, description="Wrong passwords in a row before a lockout.")
    admin_lockout_minutes: float = Field(default=15.0, gt=0, description="How long a locked account waits.")
    admin_https_only: bool = Field(default=False, description="Send the console's cookie over HTTPS only.")
    max_json_depth: int = Field(
        default=32, ge=2, le=500, description="Webhook bodies and profiles nested deeper are refused unparsed."
    )
    domain_path: Path = REPO_ROOT / "domain.yml"
    nlu_data_path: Path = REPO_ROOT / "nlu" / "data"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'ruta.sqlite3'}"

    @property
    def nlu_cache_dir(self) -> Path:
        return self.nlu_cache or self.home / "cache"

    def nlu(self, backend: Literal["embedded", "rasa"] | None = None) -> NluBackend:
        """The NLU backend these settings configure (`backend` instead of RUTA_NLU_BACKEND if given)."""
        from nlu.backends import make_backend

        return make_backend(
            backend or self.nlu_backend,
            self.nlu_data_path,
            self.nlu_cache_dir,
            self.rasa_url,
            self.rasa_timeout,
            breaker_failures=self.rasa_breaker_failures,
            breaker_cooldown=self.rasa_breaker_cooldown,
        )

    @property
    def documents_dir(self) -> Path:
        """Where `ruta chat` saves the documents it is sent (the route as a PDF)."""
        return self.home / "documentos"

    @property
    def chat_log_path(self) -> Path:
        """Where `ruta chat` writes its logs (JSON lines), so none reaches the chat's screen."""
        return self.home / "logs" / "chat.log"

    def retention_cutoff(self, now: datetime) -> datetime | None:
        """The moment before which records are deleted: `retention_months` calendar months before `now`."""
        if not self.retention_months:
            return None
        months = now.year * 12 + now.month - 1 - self.retention_months
        year, month = divmod(months, 12)
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day)

    def resolved_pseudonym_key(self) -> bytes:
        """The configured key, else the key in `home/pseudonym.key`, created once (random, mode 0600, atomically).

        Never a weak or empty key, and never another key in its place: PseudonymKeyError says what to fix."""
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.encode()
            if len(key) < MIN_KEY_BYTES:
                raise PseudonymKeyError(f"RUTA_PSEUDONYM_KEY must be at least {MIN_KEY_BYTES} bytes (got {len(key)})")
            return key
        path = self.home / "pseudonym.key"
        if not path.exists():
            _create_key(path)
        return _read_key(path)


MIN_KEY_BYTES = 32
RECOVER = (
    "restore the file from a backup; deleting it makes every stored conversation and diagnosis unreachable "
    "(they stay under pseudonyms nobody can recompute), see the README"
)


class PseudonymKeyError(ValueError):
    """The pseudonym key is missing, unreadable, empty or too short; the message names it and how to recover."""


def _create_key(path: Path) -> None:
    """Write a new random key next to `path`, flush it to disk, then link it into place: a crash at any moment
    leaves either no key file or a whole one, never an empty one; another process's key is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(MIN_KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made the key first: use that one
    finally:
        temporary.unlink(missing_ok=True)


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise PseudonymKeyError(f"cannot read the pseudonym key {path} ({exc.strerror}): {RECOVER}") from None
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"the pseudonym key {path} is empty or too short ({len(key)} bytes): {RECOVER}")
    return key


@cache
def get_settings() -> Settings:
    """The settings of this process (read once)."""
    return Settings()
