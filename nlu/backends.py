"""Choose an NLU backend by name: the embedded one (default) or a Rasa server with embedded fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from nlu.embedded import EmbeddedNlu
from nlu.parse import NluBackend
from nlu.rasa_backend import RasaNlu

__all__ = ["backend_health", "make_backend"]


def make_backend(
    name: Literal["embedded", "rasa"],
    data_path: Path,
    cache_dir: Path | None,
    rasa_url: str = "http://127.0.0.1:5005",
    rasa_timeout: float = 2.0,
    *,
    breaker_failures: int = 3,
    breaker_cooldown: float = 30.0,
) -> NluBackend:
    """The backend called `name`; the Rasa backend falls back to the embedded one message by message, and for a
    cool-down after `breaker_failures` failures in a row (see nlu/breaker.py)."""
    embedded = EmbeddedNlu((data_path,), cache_dir)
    if name == "rasa":
        return RasaNlu(
            rasa_url,
            rasa_timeout,
            fallback=embedded,
            breaker_failures=breaker_failures,
            breaker_cooldown=breaker_cooldown,
        )
    return embedded


def backend_health(backend: NluBackend) -> dict[str, str]:
    """For /healthz: the backend parsing free text now and, for Rasa, its circuit breaker's state."""
    if isinstance(backend, RasaNlu):
        return {"configured": backend.name, "backend": backend.in_use, "breaker": backend.breaker.state}
    return {"configured": backend.name, "backend": backend.name}
