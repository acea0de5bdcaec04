"""Retry a send to a chat service: flood limits wait as long as the service asks, network errors back off.

A call is retried only when the service did not take it (429, 5xx, connection failure), so a reply is neither
lost to a passing failure nor sent twice. What cannot succeed (a malformed request) is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["RetryPolicy", "send_with_retry"]

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Given the exception of a failed attempt, how many seconds to wait before the next (None: do not retry).
RetryPolicy = Callable[[Exception, int], float | None]

MAX_ATTEMPTS = 8
MAX_WAIT_SECONDS = 60.0


def backoff(attempt: int, base: float = 0.25) -> float:
    """Exponential wait for the n-th failed attempt (0.25 s, 0.5 s, 1 s, … up to 30 s)."""
    return float(min(base * 2**attempt, 30.0))


async def send_with_retry(
    send: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str, attempts: int = MAX_ATTEMPTS
) -> T:
    """Await `send()`; on a retryable failure wait as the policy says and try again, up to `attempts` times."""
    for attempt in range(attempts):
        try:
            return await send()
        except Exception as exc:
            wait = policy(exc, attempt)
            if wait is None or attempt == attempts - 1:
                raise
            logger.warning(
                "send retried",
                extra={"event": "send_retry", "call": what, "attempt": attempt + 1, "error": type(exc).__name__},
            )
            await asyncio.sleep(min(wait, MAX_WAIT_SECONDS))
    raise AssertionError("unreachable")
