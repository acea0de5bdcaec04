"""Serve ASGI apps on 127.0.0.1 inside the running event loop, plus small helpers shared by the fakes.

``LocalServer`` runs uvicorn as a task of the *current* loop, so a test can start a fake (or the product's own
ASGI app), talk to it over real HTTP and inspect its state directly, all without threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeAlias

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

HOST = "127.0.0.1"
SERVER_SCOPE_KEY = "tests.fakes.local_server"
DISCONNECT: Literal["disconnect"] = "disconnect"
FailureStatus: TypeAlias = int | Literal["disconnect"]


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone (tests run several at once) and stops without polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    async def main_loop(self) -> None:
        while not await self.on_tick(0):  # tick 0 refreshes the Date header
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), 1.0)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Service(ABC):
    """Something with async `start()` and `stop()`; `async with` starts it and stops it."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class LocalServer(Service):
    """Run ``app`` with uvicorn on 127.0.0.1 as a task of the current event loop.

    ``port=0`` picks a free port; after ``await start()`` the bound port is in ``port`` and the base URL in ``url``.
    ``lifespan="on"`` runs the app's startup/shutdown events (the fakes need none, a product app may).
    ``stop()`` then ``start()`` again simulates an outage: the restarted server listens on the same port.
    Requests carry the server in ``scope[SERVER_SCOPE_KEY]`` so handlers can drop their own connection.
    """

    def __init__(
        self, app: ASGIApp, *, port: int = 0, graceful_timeout: int = 2, lifespan: Literal["on", "off"] = "off"
    ) -> None:
        self.app = app
        self.port = port
        self._options: dict[str, Any] = {"timeout_graceful_shutdown": graceful_timeout, "lifespan": lifespan}
        self._server = self._new_server()
        self._task: asyncio.Task[None] | None = None

    def _new_server(self) -> _QuietServer:
        config = uvicorn.Config(
            self._asgi,
            host=HOST,
            port=self.port,
            log_level="warning",
            http="h11",
            interface="asgi3",
            access_log=False,
            proxy_headers=False,
            **self._options,
        )
        return _QuietServer(config)

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321`` (valid once started)."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start serving and wait until the socket is bound (a restart reuses the port first bound)."""
        if self._task is not None:
            raise RuntimeError("server already started")
        if self._server.started:
            self._server = self._new_server()
        self._task = asyncio.create_task(self._serve(), name=f"LocalServer({self.app!r})")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raise the start-up failure
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Ask uvicorn to exit and wait for it (open requests get ``graceful_timeout`` seconds)."""
        if self._task is None:
            return
        self._server.should_exit = True
        self._server.exit_requested.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def abort_connection(self, client: tuple[str, int]) -> bool:
        """Abort the TCP connection of the request that came from ``client``; True if it was found."""
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == client:
                connection.transport.abort()
                return True
        return False

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind; keep the loop alive
            raise RuntimeError(f"uvicorn failed to start on {HOST}:{self.port}") from exc

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SERVER_SCOPE_KEY] = self
        await self.app(scope, receive, send)


async def drop_connection(request: Request) -> Response:
    """Close the client's connection without any response; the returned response is never sent."""
    server = request.scope.get(SERVER_SCOPE_KEY)
    client = request.scope.get("client")
    if not isinstance(server, LocalServer) or client is None or not server.abort_connection(tuple(client)):
        raise RuntimeError("drop_connection needs a request served by LocalServer")
    for _ in range(100):  # the disconnect is reported once the loop has run connection_lost()
        if (await request.receive())["type"] == "http.disconnect":
            break
    return Response(status_code=500)


class Startable(Protocol):
    @property
    def url(self) -> str: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


async def serve_forever(fake: Startable, name: str) -> None:
    """Entry point of the ``python -m tests.fakes.<fake>`` modes: serve until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"{name} listening on {fake.url}", flush=True)
        await stop.wait()


class Signals:
    """Per-key wake-ups: waiters on one key (a chat, a recipient) are not woken by activity on the others."""

    def __init__(self) -> None:
        self._events: dict[Hashable, asyncio.Event] = {}

    def notify(self, key: Hashable) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait(self, key: Hashable) -> None:
        """Wait for the next ``notify(key)``."""
        await self._events.setdefault(key, asyncio.Event()).wait()

    async def wait_until(self, key: Hashable, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``ready()`` holds, re-checking whenever ``key`` is notified; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            event = self._events.setdefault(key, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True


@dataclass(frozen=True)
class Failure:
    """One injected failure: an HTTP status (answered without applying the call) or a dropped connection."""

    status: FailureStatus
    retry_after: int = 1


class FaultInjector:
    """Queues of failures to inject, per key (an API method), with counters of what was injected."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Failure]] = {}
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[str, FailureStatus]] = []

    def add(self, key: str, *, times: int, status: FailureStatus, retry_after: int = 1) -> None:
        if status != DISCONNECT and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status or {DISCONNECT!r}, not {status!r}")
        self._queues.setdefault(key, deque()).extend([Failure(status, retry_after)] * times)

    def take(self, key: str) -> Failure | None:
        queue = self._queues.get(key)
        if not queue:
            return None
        failure = queue.popleft()
        self.injected[key] += 1
        self.log.append((key, failure.status))
        return failure

    def pending(self, key: str) -> int:
        return len(self._queues.get(key, ()))

    def clear(self, key: str) -> None:
        """Drop the failures still queued for `key` (the service is healthy again)."""
        self._queues.pop(key, None)
