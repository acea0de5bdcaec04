"""Local fake servers (Telegram Bot API, WhatsApp Cloud API) speaking real HTTP, for tests and benchmarks.

Names are imported lazily so that ``python -m tests.fakes.telegram_api`` does not import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.graph_api import FakeGraphApi
    from tests.fakes.server import LocalServer
    from tests.fakes.telegram_api import FakeBotApi, SentMessage

__all__ = ["FakeBotApi", "FakeGraphApi", "LocalServer", "SentMessage"]

_HOMES = {
    "FakeBotApi": "tests.fakes.telegram_api",
    "SentMessage": "tests.fakes.telegram_api",
    "FakeGraphApi": "tests.fakes.graph_api",
    "LocalServer": "tests.fakes.server",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
