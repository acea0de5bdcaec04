"""The route as a one-page A4 PDF, to keep or print: `templates/route_document.html.j2` laid out by WeasyPrint.

The page is set in the largest type of LEVELS that holds every step on one page: a short route gets large type
(older people read it on paper), a long one smaller type (the longest route the rules make today fits at 11 pt,
tests/test_route_document.py). Should even the smallest type not be enough, the last levels name only the first
items of a long list ("… y 3 cosas más (pregúntalas en la oficina)"); a step is never left out. Only the
classification and the route are shown: no name, phone number or chat id, and the metadata holds only the title.

WeasyPrint lays out a page in about 0.1 s (its first use in a process also loads it, about 1 s).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from bot.render import render_route_page
from knowledge import Diagnosis, KnowledgeBase

__all__ = ["LEVELS", "Level", "render_route_pdf"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Level:
    """One way to set the page: body type in points, and how many items of a list are named (None: all)."""

    size: float
    cap: int | None = None


# Tried in order until the route fits on one page (WeasyPrint lays the page out once per level tried).
LEVELS = (Level(15), Level(13.5), Level(12), Level(11), Level(10), Level(9.5, cap=3), Level(9, cap=2))


def render_route_pdf(diagnosis: Diagnosis, kb: KnowledgeBase, *, kb_version: str, made_on: datetime.date) -> bytes:
    """The PDF of the diagnosis's route, made on `made_on` with the knowledge base `kb_version`: one A4 page."""
    document = None
    for level in LEVELS:
        page = render_route_page(diagnosis, kb, kb_version=kb_version, made_on=made_on, size=level.size, cap=level.cap)
        document = _laid_out(page)
        if len(document.pages) == 1:
            break
    else:  # not expected (the longest route fits, see tests/test_route_document.py): every step is kept all the same
        logger.warning("route document longer than a page", extra={"event": "route_document_pages"})
    assert document is not None
    pdf: bytes = document.write_pdf()
    return pdf


def _laid_out(page: str) -> Any:
    """The page laid out by WeasyPrint (imported here: it takes a while to load, and only this needs it)."""
    from weasyprint import HTML

    return HTML(string=page).render()
