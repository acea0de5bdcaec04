"""Conversation rules from `bot/dialogue.yml` (skips, ranges, bands), validated."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["DIALOGUE_RULES_PATH", "DialogueRules", "Range", "Skip", "load_dialogue_rules"]

DIALOGUE_RULES_PATH = Path(__file__).parents[1] / "dialogue.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Skip(_Strict):
    when: dict[str, Any]
    value: Any


class Range(_Strict):
    min: float
    max: float


class DialogueRules(_Strict):
    form: str
    consent_form: str
    max_reasks: int
    skip: dict[str, Skip]
    implies_operating: list[str]
    ranges: dict[str, Range]
    sales_thousands_below: int
    rsh_bands: list[int]
    commands: dict[str, str]
    command_menu: dict[str, str]
    term_instruments: dict[str, str]

    @model_validator(mode="after")
    def _menu_lists_known_commands(self) -> DialogueRules:
        unknown = set(self.command_menu) - set(self.commands)
        if unknown:
            raise ValueError(f"command_menu lists commands that `commands` lacks: {sorted(unknown)}")
        return self


@cache
def load_dialogue_rules(path: Path = DIALOGUE_RULES_PATH) -> DialogueRules:
    return DialogueRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
