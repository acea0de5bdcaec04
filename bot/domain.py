"""The Rasa domain (`domain.yml`) as typed data: what the dialogue engine reads to decide and to speak."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Button", "Condition", "Domain", "Form", "Response", "Slot", "SlotMapping", "load_domain"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Condition(_Model):
    active_loop: str | None = None
    requested_slot: str | None = None


class SlotMapping(_Model):
    """How a slot is filled: from an entity (optionally with a role) or from an intent with a fixed value."""

    type: Literal["from_entity", "from_intent", "from_text", "custom"]
    entity: str | None = None
    role: str | None = None
    intent: str | list[str] | None = None
    value: Any = None
    conditions: list[Condition] = []


class Slot(_Model):
    type: str
    values: list[Any] | None = None
    mappings: list[SlotMapping] = []


class Form(_Model):
    required_slots: list[str]


class Button(_Model):
    title: str
    payload: str


class Response(_Model):
    text: str
    buttons: list[Button] = []


class Domain(_Model):
    """Intents, entities (with roles), slots, forms and responses of the assistant."""

    intents: list[str]
    entities: list[str]
    entity_roles: dict[str, list[str]] = {}
    slots: dict[str, Slot]
    forms: dict[str, Form]
    responses: dict[str, list[Response]] = Field(default_factory=dict)

    def response(self, name: str) -> Response:
        """The first variant of response `name` (the assistant speaks one register only)."""
        return self.responses[name][0]


def _entities(raw: list[Any]) -> tuple[list[str], dict[str, list[str]]]:
    names: list[str] = []
    roles: dict[str, list[str]] = {}
    for item in raw:
        if isinstance(item, dict):
            for name, details in item.items():
                names.append(name)
                roles[name] = list((details or {}).get("roles", []))
        else:
            names.append(str(item))
    return names, roles


@cache
def load_domain(path: Path) -> Domain:
    """Read and validate `domain.yml`."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    names, roles = _entities(raw.get("entities", []))
    return Domain.model_validate(
        {
            "intents": [i if isinstance(i, str) else next(iter(i)) for i in raw.get("intents", [])],
            "entities": names,
            "entity_roles": roles,
            "slots": raw.get("slots", {}),
            "forms": raw.get("forms", {}),
            "responses": raw.get("responses", {}),
        }
    )
