"""python-telegram-bot's networking on aiohttp instead of httpx.

python-telegram-bot lets an application plug in its own `BaseRequest`. Measured against a local Bot API
(`bench/telegram_bench.py`), httpx costs about 1.7 ms of CPU per request and aiohttp about 0.7 ms; a bot turn
makes two or three requests (answer the button, edit the question, send the reply), so this is most of the
difference between ~110 and ~200 turns per second on one core. Errors map to python-telegram-bot's: a timeout
is `TimedOut`, any other connection failure `NetworkError`, so the retry policy treats them alike.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` backed by one aiohttp session with at most `connections` connections."""

    __slots__ = ("_connections", "_session", "_timeouts")

    def __init__(self, connections: int = 16, read_timeout: float = 5.0, connect_timeout: float = 5.0) -> None:
        self._connections = connections
        self._timeouts = {"read": read_timeout, "connect": connect_timeout}
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            sock_read=_seconds(read_timeout, self._timeouts["read"]),
            sock_connect=_seconds(connect_timeout, self._timeouts["connect"]),
            connect=_seconds(pool_timeout, None),
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp: {type(exc).__name__}: {exc}") from exc


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> Any:
    """Form fields as python-telegram-bot encodes them; a multipart form when files are uploaded."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
