"""Conversation rules from `bot/dialogue.yml` (skips, ranges, bands), validated."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["DIALOGUE_RULES_PATH", "AnswerName", "DialogueRules", "Range", "Skip", "load_dialogue_rules"]

DIALOGUE_RULES_PATH = Path(__file__).parents[1] / "dialogue.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Skip(_Strict):
    when: dict[str, Any]
    value: Any


class Range(_Strict):
    min: float
    max: float


class AnswerName(_Strict):
    """How the bot names an answer when it says what it changed: "Cambié tu rubro a Comida"."""

    name: str
    value: str = "{}"  # a format for numbers; categories are named by their button titles


class DialogueRules(_Strict):
    form: str
    consent_form: str
    max_reasks: int
    max_asks: int
    answers_from: dict[str, dict[str, int]]
    correction_markers: list[str]
    change_min_confidence: float
    intent_min_confidence: float
    answer_names: dict[str, AnswerName]
    bool_names: dict[bool, str]
    skip: dict[str, Skip]
    implies_operating: list[str]
    ranges: dict[str, Range]
    sales_thousands_below: int
    rsh_bands: list[int]
    commands: dict[str, str]
    command_menu: dict[str, str]
    term_instruments: dict[str, str]
    handoff_instrument: str

    @model_validator(mode="after")
    def _menu_lists_known_commands(self) -> DialogueRules:
        unknown = set(self.command_menu) - set(self.commands)
        if unknown:
            raise ValueError(f"command_menu lists commands that `commands` lacks: {sorted(unknown)}")
        if self.max_asks <= self.max_reasks + 1:
            raise ValueError("max_asks must leave room for the question, its re-asks and the buttons")
        return self


@cache
def load_dialogue_rules(path: Path = DIALOGUE_RULES_PATH) -> DialogueRules:
    return DialogueRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
