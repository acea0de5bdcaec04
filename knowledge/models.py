"""Pydantic models of the knowledge base: what staff write in `knowledge/data/*.yml`.

Every model forbids unknown keys so a typo in a data file is reported instead of silently ignored.
Ids are lowercase snake_case; cross references (agency of an instrument, communes an office serves, …)
are checked by `knowledge.loader`, which knows every file.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from knowledge.lessons import TEXT_MAX_CHARS, plain_text

__all__ = [
    "AREAS",
    "NEEDS",
    "SEGMENTS",
    "STAGES",
    "Agency",
    "Area",
    "Audience",
    "Call",
    "ClassificationRule",
    "Commune",
    "Criterion",
    "DatedValue",
    "GlossaryTerm",
    "Instrument",
    "Lesson",
    "LessonPath",
    "Need",
    "Office",
    "Parameter",
    "RouteRequirement",
    "Rules",
    "Sector",
    "SectorPotential",
    "Segment",
    "Stage",
    "UsualWindow",
]

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Segment = Literal["subsistence", "simple_accumulation", "extended_accumulation"]
Stage = Literal["conception", "initiation", "growth", "consolidation"]
Area = Literal[
    "capacitacion_empresario",
    "capacitacion_mano_obra",
    "inversion_capital",
    "fomento_calidad",
    "formalizacion",
    "comercializacion",
    "asociatividad",
    "financiamiento",
]
Need = Literal["financing", "training", "formalization", "market", "technical", "quality", "export", "workforce"]
SEGMENTS: tuple[Segment, ...] = ("subsistence", "simple_accumulation", "extended_accumulation")
STAGES: tuple[Stage, ...] = ("conception", "initiation", "growth", "consolidation")
AREAS: tuple[Area, ...] = (
    "capacitacion_empresario",
    "capacitacion_mano_obra",
    "inversion_capital",
    "fomento_calidad",
    "formalizacion",
    "comercializacion",
    "asociatividad",
    "financiamiento",
)
NEEDS: tuple[Need, ...] = (
    "financing",
    "training",
    "formalization",
    "market",
    "technical",
    "quality",
    "export",
    "workforce",
)


class Strict(BaseModel):
    """Base for data-file models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(Strict):
    """A public body that runs instruments (Sercotec, Fosis, …)."""

    id: Id
    name: str
    short_name: str
    web: str | None = None
    description: str


class Sector(Strict):
    """An economic sector; `regional_priority` marks the seed's prioritised axes."""

    id: Id
    name: str
    regional_priority: bool = False


class SectorPotential(Strict):
    """One row of the opportunity map: how promising a sector is in a commune, and why."""

    sector: Id
    potential: Literal["high", "medium", "low"]
    basis: str
    source: str


class Commune(Strict):
    """A commune of Atacama with its part of the seed's territorial opportunity map."""

    id: Id
    name: str
    province: Literal["copiapo", "chanaral", "huasco"]
    localities: list[str] = []
    sectors: list[SectorPotential] = []
    human_capital_needs: list[str] = []
    opportunities: list[str] = []
    support_access_vulnerable: bool = False
    sources: list[str] = []


_URL = re.compile(r"^https?://\S+$")
_PHONE = re.compile(r"^\+56( \d+)+$")


class Office(Strict):
    """A place (or an online channel) where the entrepreneur is attended.

    Contact fields left empty are shown to the user as "por confirmar" until staff fill them. Contact data
    (`address`, `phone`, `hours`) must say where it comes from: `contact_source` is the URL of the page it was
    read from and `contact_verified` the day it was read (the two go together); `source` stays a free-text note
    (why the office exists, caveats, the year of the page). Data entered before `contact_source` existed is
    accepted with `source` alone. `phone` is written "+56", the area code and the number ("+56 52 2 123456").
    """

    id: Id
    agency: Id
    name: str
    kind: Literal["office", "business_center", "municipal", "online"] = "office"
    commune: Id | None = None
    serves: list[Id]
    address: str | None = None
    phone: str | None = None
    hours: str | None = None
    web: str | None = None
    source: str | None = None
    contact_source: str | None = Field(default=None, validate_default=True)
    contact_verified: date | None = Field(default=None, validate_default=True)

    @field_validator("phone")
    @classmethod
    def _chilean_phone(cls, value: str | None) -> str | None:
        if value is not None and not (_PHONE.match(value) and sum(c.isdigit() for c in value) == 11):
            raise ValueError(f"phone '{value}' must be +56, the area code and the number: e.g. +56 52 2 123456")
        return value

    @field_validator("contact_source")
    @classmethod
    def _contact_has_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError(f"'{value}' is not a URL (http:// or https://) of the page the contact data was read from")
        filled = [name for name in ("address", "phone", "hours") if info.data.get(name)]
        if value is None and filled and not info.data.get("source"):
            raise ValueError(
                f"{', '.join(filled)} filled without a source: give contact_source (the URL of the page it was"
                " read from) and contact_verified (the day it was read)"
            )
        return value

    @field_validator("contact_verified")
    @classmethod
    def _verified_with_source(cls, value: date | None, info: ValidationInfo) -> date | None:
        if "contact_source" not in info.data:  # contact_source itself failed and was reported
            return value
        if value is None and info.data["contact_source"] is not None:
            raise ValueError("contact_source needs contact_verified: the day the page was read (YYYY-MM-DD)")
        if value is not None and info.data["contact_source"] is None:
            raise ValueError("contact_verified needs contact_source: the URL of the page that was read")
        return value


Scalar = bool | int | float | str


class ParamRef(Strict):
    """A reference to a dated parameter, resolved on the day asked."""

    param: Id


Operand = Scalar | ParamRef


class Criterion(Strict):
    """One declarative condition on a profile fact, worded for the user in `label`.

    Exactly one of: a comparison on `fact` (`eq`, `ne`, `in`, `not_in`, `gte`, `gt`, `lte`, `lt`; `gte`+`lte`
    together make a range), `any_of` (met when one sub-criterion is met), `all_of` (met when all are), or
    `confirm: true` (a condition the conversation cannot know, always listed as "por confirmar").
    `label` is an infinitive phrase ("tener 18 años o más") used both as a reason met and as one missing.
    `prerequisite` names the instrument whose step satisfies this criterion (e.g. formalising at SII).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    label: str
    fact: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gte: Operand | None = None
    gt: Operand | None = None
    lte: Operand | None = None
    lt: Operand | None = None
    any_of: list[Criterion] | None = None
    all_of: list[Criterion] | None = None
    confirm: bool = False
    prerequisite: Id | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Criterion:
        comparisons = [
            name for name in ("eq", "ne", "in_", "not_in", "gte", "gt", "lte", "lt") if getattr(self, name) is not None
        ]
        kinds = sum([self.fact is not None, self.any_of is not None, self.all_of is not None, self.confirm])
        if kinds != 1:
            raise ValueError("needs exactly one of `fact`, `any_of`, `all_of` or `confirm: true`")
        if self.fact is not None and not comparisons:
            raise ValueError(f"fact `{self.fact}` needs a comparison (eq, ne, in, not_in, gte, gt, lte, lt)")
        if self.fact is None and comparisons:
            raise ValueError("a comparison needs a `fact`")
        return self


_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")


class UsualWindow(Strict):
    """The usual yearly application window when no confirmed date is known.

    `start`/`end` are "MM" (a whole month) or "MM-DD"; either may be missing but not both. A window whose end
    is before its start crosses the new year. `label` is the plain-Spanish phrase shown to the user
    ("suele abrir en marzo").
    """

    start: str | None = None
    end: str | None = None
    label: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month_as_text(cls, value: object) -> object:
        """Accept an unquoted YAML month (`3`) as "03"."""
        return f"{value:02d}" if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str | None) -> str | None:
        if value is not None and not _MONTH_DAY.match(value):
            raise ValueError(f"'{value}' is not MM or MM-DD")
        return value

    @model_validator(mode="after")
    def _some_bound(self) -> UsualWindow:
        if self.start is None and self.end is None:
            raise ValueError("a usual window needs `start`, `end` or both")
        return self


class Instrument(Strict):
    """A public support instrument (fund, programme, credit, service).

    `line` groups alternatives of one programme (e.g. the Fosis Emprendamos levels): a route keeps only the
    best-ranked instrument of a line.
    """

    id: Id
    agency: Id
    name: str
    gives: str
    amount_max_clp: int | None = Field(default=None, ge=0)
    own_contribution_pct: float | None = Field(default=None, ge=0, le=100)
    areas: list[Area] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    stages: list[Stage] = Field(min_length=1)
    applicant: Literal["person", "business", "group"] = "person"
    criteria: list[Criterion] = []
    requirements: list[str] = []
    how_to_apply: str
    action: str
    availability: Literal["permanent", "calls", "unknown"]
    usual_window: UsualWindow | None = None
    entry_door: bool = False
    line: Id | None = None
    offices: list[Id] = []
    sources: list[str] = Field(min_length=1)
    verified: date
    notes: str | None = None

    @model_validator(mode="after")
    def _window_only_for_calls(self) -> Instrument:
        if self.usual_window is not None and self.availability != "calls":
            raise ValueError("`usual_window` only makes sense with `availability: calls`")
        return self


class Call(Strict):
    """A confirmed call (convocatoria) of an instrument: dates published by the agency."""

    instrument: Id
    year: int = Field(ge=2000, le=2100)
    opens: date | None = None
    closes: date
    scope: Literal["atacama", "nacional"]
    source: str
    notes: str | None = None
    cancelled: bool = False  # announced and then called off: no route shows it and nobody is reminded of it

    @model_validator(mode="after")
    def _dates_in_order(self) -> Call:
        if self.opens is not None and self.closes < self.opens:
            raise ValueError(f"closes {self.closes} is before opens {self.opens}")
        return self


class DatedValue(Strict):
    """A parameter value valid from a date, with the legal or public source that fixes it."""

    valid_from: date = Field(alias="from")
    value: float
    source: str


class Parameter(Strict):
    """A dated parameter in the spirit of OpenFisca: the value in force on a day is the latest one before it."""

    description: str
    unit: str
    values: list[DatedValue] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _sorted_unique(cls, values: list[DatedValue]) -> list[DatedValue]:
        days = [v.valid_from for v in values]
        if len(set(days)) != len(days):
            raise ValueError("two values start on the same date")
        return sorted(values, key=lambda v: v.valid_from)


class GlossaryTerm(Strict):
    """A word the assistant explains when asked ("¿qué es la UF?")."""

    id: Id
    term: str
    definition: str
    source: str


class ClassificationRule(Strict):
    """One ordered rule of a classification: the first whose criteria all hold gives `value`."""

    value: str
    when: list[Criterion] = []
    explanation: str
    seed: list[str] = []


class RouteRequirement(Strict):
    """A step every route holds when all of `when` hold, even beyond `route_max_instruments`.

    E.g. formalising at SII for a business that already sells without inicio de actividades. The step is added
    only when the instrument itself is usable (eligible, after a prerequisite, or to confirm). With
    `include_unknown`, it is added too when no criterion fails but some answer is unknown (the step then says
    what is to be confirmed).
    """

    instrument: Id
    when: list[Criterion] = Field(min_length=1)
    include_unknown: bool = False


class Rules(Strict):
    """Thresholds and orderings that drive the classifications and the route."""

    segment: list[ClassificationRule] = Field(min_length=1)
    family: dict[Segment, Literal["subsistence", "dynamic"]]
    stage: list[ClassificationRule] = Field(min_length=1)
    need_areas: dict[Need, list[Area]]
    route_max_instruments: int = Field(ge=1, le=20)
    route_need_to_confirm_places: int = Field(default=0, ge=0, le=20)
    route_required: list[RouteRequirement] = []
    pertinence_default_priority: Literal["high", "medium", "low"]
    pertinence_default_other: Literal["high", "medium", "low", "unknown"]

    @field_validator("segment", "stage")
    @classmethod
    def _last_is_default(cls, rules: list[ClassificationRule]) -> list[ClassificationRule]:
        if rules[-1].when:
            raise ValueError("the last rule must have no `when`: it is the default")
        return rules


class Audience(Strict):
    """Who the lessons are for: a person qualifies when their age is at most `max_age` or their stage is listed."""

    max_age: int = Field(ge=0, le=120)
    stages: list[Stage] = []


class Lesson(Strict):
    """One short lesson, readable on one phone screen.

    `text` is plain Spanish that may make words stand out with `{{ b("costos fijos") }}`; read without that
    markup it has at most 600 characters. `instruments` and `offices` are what the lesson points to (shown by
    name under the text).
    """

    id: Id
    title: str = Field(min_length=1, max_length=60)
    text: str = Field(min_length=1)
    instruments: list[Id] = []
    offices: list[Id] = []
    sources: list[str] = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _one_screen(cls, value: str) -> str:
        length = len(plain_text(value))
        if length > TEXT_MAX_CHARS:
            raise ValueError(f"text has {length} characters; a lesson fits on one screen: {TEXT_MAX_CHARS} at most")
        return value


class LessonPath(Strict):
    """The lessons for young people and people with only an idea (regional plan, item e), in order: who they are
    for, the lessons, and the instruments shown after the last lesson (those meant for people starting)."""

    audience: Audience
    instruments: list[Id] = Field(min_length=1)
    lessons: list[Lesson] = Field(min_length=1)

    @field_validator("lessons")
    @classmethod
    def _unique_ids(cls, lessons: list[Lesson]) -> list[Lesson]:
        ids = [lesson.id for lesson in lessons]
        repeated = sorted({id_ for id_ in ids if ids.count(id_) > 1})
        if repeated:
            raise ValueError(f"duplicate lesson id {', '.join(repeated)}")
        return lessons
