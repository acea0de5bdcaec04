"""What in the knowledge base needs staff's attention (the staff console's dashboard); pure, like the rules.

- contact: an office (not an online channel) without address, phone or hours: the route says "por confirmar".
- unverified: an instrument whose facts were last verified more than `stale_after_days` ago.
- call_dates: a programme whose usual window opens within `window_ahead_days` (or is open now) and has no
  confirmed dates entered: people are told an estimate.
- source: an office whose contact data has no page it was read from (`contact_source`; a free-text `source`
  note is accepted by validation for older data, but staff should still find the page), a commune's
  opportunity map without sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from knowledge.base import KnowledgeBase
from knowledge.models import Office
from knowledge.schedule import schedule

__all__ = ["Attention", "needs_attention"]

Kind = Literal["contact", "unverified", "call_dates", "source"]


@dataclass(frozen=True)
class Attention:
    """One thing to fix: its kind, the file and item it is in, and what is wrong (in Spanish, for staff)."""

    kind: Kind
    file: str
    item: str
    name: str
    problem: str


def needs_attention(
    kb: KnowledgeBase, today: date, stale_after_days: int = 183, window_ahead_days: int = 45
) -> list[Attention]:
    """Everything to fix, by kind in the order above."""
    return [
        *_contact(kb),
        *_unverified(kb, today, stale_after_days),
        *_call_dates(kb, today, window_ahead_days),
        *_sources(kb),
    ]


def _contact(kb: KnowledgeBase) -> list[Attention]:
    found = []
    for office in kb.offices.values():
        missing = [label for label, value in _contact_fields(office) if not value]
        if office.kind != "online" and missing:
            found.append(Attention("contact", "offices.yml", office.id, office.name, "falta " + ", ".join(missing)))
    return found


def _contact_fields(office: Office) -> list[tuple[str, str | None]]:
    return [("dirección", office.address), ("teléfono", office.phone), ("horario", office.hours)]


def _unverified(kb: KnowledgeBase, today: date, stale_after_days: int) -> list[Attention]:
    limit = today - timedelta(days=stale_after_days)
    return [
        Attention(
            "unverified", f"instruments/{i.agency}.yml", i.id, i.name, f"verificado por última vez el {i.verified}"
        )
        for i in kb.instruments.values()
        if i.verified < limit
    ]


def _call_dates(kb: KnowledgeBase, today: date, window_ahead_days: int) -> list[Attention]:
    found = []
    for instrument in kb.instruments.values():
        if instrument.usual_window is None:
            continue
        when = schedule(instrument, kb.calls.get(instrument.id, []), today)
        near = (
            when.status == "expected" and when.opens is not None and when.opens <= today + timedelta(window_ahead_days)
        )
        if when.status == "maybe_open" or near:
            problem = f"sin fechas confirmadas; {instrument.usual_window.label}"
            found.append(Attention("call_dates", "calls.yml", instrument.id, instrument.name, problem))
    return found


def _sources(kb: KnowledgeBase) -> list[Attention]:
    offices = [
        Attention("source", "offices.yml", o.id, o.name, "datos de contacto sin fuente")
        for o in kb.offices.values()
        if (o.address or o.phone or o.hours) and not o.contact_source
    ]
    communes = [
        Attention("source", "communes.yml", c.id, c.name, "mapa de oportunidades sin fuentes")
        for c in kb.communes.values()
        if not c.sources
    ]
    return offices + communes
