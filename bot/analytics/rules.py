"""The anonymisation rules of `analytics.yml`, validated."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AgeBand", "AnalyticsRules", "load_analytics_rules"]

RULES_PATH = Path(__file__).with_name("analytics.yml")


class AgeBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: int = Field(alias="from", ge=0)
    label: str


class AnalyticsRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_cell: int = Field(ge=2)
    quasi_identifiers: list[str]
    age_bands: list[AgeBand]
    unknown_label: str

    @field_validator("age_bands")
    @classmethod
    def _ascending_from_zero(cls, bands: list[AgeBand]) -> list[AgeBand]:
        starts = [band.start for band in bands]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("age bands must start at 0 and ascend")
        return bands

    def age_band(self, age: int | None) -> str:
        if age is None:
            return self.unknown_label
        return next(band.label for band in reversed(self.age_bands) if age >= band.start)


@cache
def load_analytics_rules(path: Path = RULES_PATH) -> AnalyticsRules:
    return AnalyticsRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
