"""The entrepreneur's answers (Profile) and their validation against the knowledge base's ids."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.base import KnowledgeBase

__all__ = ["PROFILE_FIELDS", "Profile", "ProfileError", "parse_profile"]


MAX_MONTHLY_SALES_CLP = 100_000_000_000  # the chat's own upper bound (bot/dialogue.yml ranges): $100 mil millones


class Profile(BaseModel):
    """What the entrepreneur told us. Every field may be null: an unknown answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commune: str | None = None
    sector: str | None = None
    operating: bool | None = None
    months_operating: int | None = Field(default=None, ge=0, le=1200)
    formal: bool | None = None
    workers: int | None = Field(default=None, ge=0, le=100_000)
    monthly_sales_clp: int | None = Field(default=None, ge=0, le=MAX_MONTHLY_SALES_CLP)
    premises: Literal["none", "home", "separate"] | None = None
    surplus: Literal["none", "sometimes", "regular"] | None = None
    keeps_records: bool | None = None
    main_need: (
        Literal["financing", "training", "formalization", "market", "technical", "quality", "export", "workforce"]
        | None
    ) = None
    gender: Literal["female", "male", "other", "undisclosed"] | None = None
    age: int | None = Field(default=None, ge=0, le=120)
    rsh_percentile: int | None = Field(default=None, ge=40, le=100)


PROFILE_FIELDS: tuple[str, ...] = tuple(Profile.model_fields)


class ProfileError(ValueError):
    """A profile that cannot be diagnosed; `problems` are (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


def _describe(error: Any) -> tuple[str, str]:
    """One pydantic error as (field, plain message); the value given is quoted short."""
    field = ".".join(str(part)[:40] for part in error["loc"]) or "profile"
    kind = error["type"]
    given = _Short(error.get("input"))
    if kind == "extra_forbidden":
        return field, f"unknown field (accepted: {', '.join(PROFILE_FIELDS)})"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return field, f"must be a whole number, got {given!r}"
    if kind in {"bool_parsing", "bool_type"}:
        return field, f"must be true or false, got {given!r}"
    if kind == "model_type":
        return "profile", f"must be a JSON object, got {type(given.value).__name__}"
    if kind in {"string_type", "literal_error"} and not isinstance(given.value, str):
        return field, f"must be a text, got {given!r}"
    return field, f"{error['msg'].lower()}, got {given!r}"


class _Short:
    """A value quoted in an error message, cut to a readable length."""

    LIMIT = 60

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if len(text) <= self.LIMIT else text[: self.LIMIT - 1] + "…"


def parse_profile(data: Any, kb: KnowledgeBase) -> Profile:
    """Validate raw JSON data into a Profile whose commune and sector exist; raise ProfileError otherwise.

    Strictly, as a caller means it: `true` is not a number, `"yes"` is not a boolean, `" 7 "` is not 7."""
    try:
        profile = Profile.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ProfileError([_describe(error) for error in exc.errors()]) from None
    problems: list[tuple[str, str]] = []
    if profile.commune is not None and profile.commune not in kb.communes:
        problems.append(("commune", f"unknown commune {_Short(profile.commune)!r} (known: {', '.join(kb.communes)})"))
    if profile.sector is not None and profile.sector not in kb.sectors:
        problems.append(("sector", f"unknown sector {_Short(profile.sector)!r} (known: {', '.join(kb.sectors)})"))
    if problems:
        raise ProfileError(problems)
    return profile
