"""The knowledge base a running process serves: the published version, followed within a few seconds.

Every bot process (`ruta chat`, `ruta telegram`, `ruta serve`, several at once) asks the database at most every
`refresh_seconds` which publication is the newest (one indexed query); when it changed, the new version's files
are validated and, only if valid, replace the knowledge base serving. A version that fails to load is logged
once and never replaces the one serving. No restart, no message to the processes: the database is the signal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.kb_versions import InvalidKnowledge, KnowledgeVersions, checked_knowledge
from knowledge import KnowledgeBase

__all__ = ["LiveKnowledge"]

logger = logging.getLogger(__name__)


class LiveKnowledge:
    """The serving knowledge base, refreshed from the publications at most every `refresh_seconds`."""

    def __init__(
        self, versions: KnowledgeVersions, refresh_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.versions = versions
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        serving = versions.serving()
        if serving is None:
            raise LookupError("no knowledge base is published (adopt the shipped one first)")
        self.base = checked_knowledge(versions.files(serving.version_id))
        self.publication_id = serving.id
        self._refused: int | None = None
        self._checked_at = clock()

    def current(self) -> KnowledgeBase:
        """The knowledge base to answer with now."""
        now = self._clock()
        if now - self._checked_at >= self.refresh_seconds:
            self._checked_at = now
            self._follow()
        return self.base

    def _follow(self) -> None:
        try:
            newest = self.versions.serving_id()
        except Exception as exc:  # the database is unreachable for a moment: keep serving what we have
            logger.warning("knowledge check failed", extra={"event": "kb_check_failed", "error": type(exc).__name__})
            return
        if newest is None or newest in (self.publication_id, self._refused):
            return
        serving = self.versions.serving()
        if serving is None:
            return
        try:
            base = checked_knowledge(self.versions.files(serving.version_id))
        except (InvalidKnowledge, KeyError, UnicodeDecodeError) as exc:
            self._refused = serving.id
            logger.error(
                "published knowledge base not loaded; the previous one keeps serving",
                extra={"event": "kb_refused", "error": type(exc).__name__, "reason": serving.digest},
            )
            return
        self.base, self.publication_id = base, serving.id
        logger.info("knowledge base switched", extra={"event": "kb_switched", "reason": base.version})
