"""A circuit breaker for a remote NLU server: stop waiting on a server that keeps failing, and notice its return.

States:

- **closed**: calls go to the server. `failures` failures in a row (errors, 5xx, timeouts) open the breaker.
- **open**: calls skip the server (the caller uses its fallback at once). A daemon thread waits `cooldown`
  seconds, then probes the server (for Rasa, `GET /status`); while the probe fails it waits another `cooldown`
  and probes again.
- **half_open**: the probe answered. The next call is a trial that goes to the server (other calls meanwhile keep
  using the fallback); its success closes the breaker, its failure opens it again for another cool-down.

Why a background thread rather than a probe made lazily by the first turn after the cool-down: a hung server
answers a probe only after the client's timeout, and no person's turn should wait for that. The thread lives
only while the breaker is open (one at a time) and is a daemon, so it never holds the process at exit; `close()`
stops it. Each change of state is logged once, as a structured line (`event: nlu_breaker`); failed probes are
not logged (the breaker stays open, nothing changed). All state is guarded by one lock: turns run in threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

logger = logging.getLogger(__name__)
BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Decides, call by call, whether the server is worth asking; thread-safe."""

    def __init__(
        self,
        probe: Callable[[], bool],
        failures: int = 3,
        cooldown: float = 30.0,
        server: str = "Rasa",
        fallback: str = "embedded",
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("a breaker needs failures >= 1 and a positive cool-down")
        self.probe, self.failures, self.cooldown = probe, failures, cooldown
        self.server, self.fallback = server, fallback
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failed = 0
        self._trial = False  # half-open: a trial call is under way
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """Whether this call should go to the server (closed, or the one trial of half-open)."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "half_open" and not self._trial:
                self._trial = True
                return True
            return False

    def succeeded(self) -> None:
        """The server answered a call."""
        with self._lock:
            self._failed = 0
            self._trial = False
            if self._state == "half_open":
                self._change("closed", f"{self.server} answers again; it parses from now on")

    def failed(self) -> None:
        """A call to the server failed (error, bad answer or timeout)."""
        with self._lock:
            self._failed += 1
            self._trial = False
            if self._state == "half_open" or (self._state == "closed" and self._failed >= self.failures):
                self._open()

    def close(self) -> None:
        """Stop probing (the process is ending or the backend is closed)."""
        self._stop.set()

    def _open(self) -> None:
        """Open the breaker and start the prober (caller holds the lock)."""
        self._change(
            "open",
            f"{self.server} failed {self._failed} time(s) in a row; the {self.fallback} NLU parses, "
            f"{self.server} is probed every {self.cooldown:g} s",
        )
        if self._prober is None:  # only the open state has a prober
            self._prober = threading.Thread(target=self._probe_until_back, name="nlu-breaker-probe", daemon=True)
            self._prober.start()

    def _probe_until_back(self) -> None:
        while not self._stop.wait(self.cooldown):
            if self._probe_ok():
                with self._lock:
                    self._change("half_open", f"{self.server} answers its status; the next message tries it")
                    self._prober = None
                return

    def _probe_ok(self) -> bool:
        try:
            return self.probe()
        except Exception:  # a probe that raises is a failed probe, never a dead prober
            return False

    def _change(self, state: BreakerState, message: str) -> None:
        """Record and log a change of state once (caller holds the lock)."""
        if state == self._state:
            return
        self._state = state
        if state == "closed":
            self._failed = 0
        level = logging.WARNING if state == "open" else logging.INFO
        backend = self.fallback if state == "open" else self.server.lower()
        logger.log(level, message, extra={"event": "nlu_breaker", "state": state, "backend": backend})
