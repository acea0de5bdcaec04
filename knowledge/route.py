"""The route: which instruments to use, in what order, with dates and the office for the user's commune.

Selection: the entry door; the best-ranked fitting instruments (nothing to confirm before "por confirmar"),
at most `route_max_instruments`; the prerequisites they need; the steps `rules.yml: route_required` asks for
(formalising at SII when the business already sells informally), which no cap can push out.

Order: the entry door (free advice) first; then instruments that require NOT being formalised (apply before
formalising, or the right to them is lost); then prerequisites (formalising at SII); then the rest. Steps
with something to confirm come after every step without, except one that must be applied for before a
formalisation step of the route (it keeps its place before it). Inside each group, by urgency of the deadline
(see `Schedule.urgency`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.criteria import evaluate_all
from knowledge.eligibility import InstrumentResult
from knowledge.models import Instrument, Office
from knowledge.schedule import Schedule, schedule

__all__ = ["RouteStep", "build_route", "instrument_card", "office_for", "schedule_on"]

_USABLE = {"eligible": 2, "after_prerequisite": 1, "to_confirm": 0}


@dataclass(frozen=True)
class RouteStep:
    """One step: an instrument with its schedule and the office that serves the user's commune."""

    step: int
    result: InstrumentResult
    schedule: Schedule
    office: Office | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            **instrument_card(self.result.instrument, self.schedule, self.office),
            "eligibility": self.result.status,
        }


def instrument_card(instrument: Instrument, when: Schedule, office: Office | None) -> dict[str, Any]:
    """What to tell about an instrument on a day: its action, dates relative to that day, and the office."""
    return {
        "instrument": instrument.id,
        "name": instrument.name,
        "agency": instrument.agency,
        "action": instrument.action,
        "opens": when.opens.isoformat() if when.opens else None,
        "closes": when.closes.isoformat() if when.closes else None,
        "status": when.status,
        "estimate": when.estimate,
        "days_left": when.days_left,
        "window": when.window_label,
        "last_closed": when.last_closed.isoformat() if when.last_closed else None,
        "office": _office_dict(office),
    }


_OFFICE_FIELDS = {"id", "name", "agency", "kind", "commune", "address", "phone", "hours", "web"}


_OFFICE_DICTS: dict[int, tuple[Office, dict[str, Any]]] = {}


def _office_dict(office: Office | None) -> dict[str, Any] | None:
    """The office's contact fields (serialised once per office object; a fresh copy each time)."""
    if office is None:
        return None
    cached = _OFFICE_DICTS.get(id(office))
    if cached is None or cached[0] is not office:
        cached = _OFFICE_DICTS[id(office)] = (office, office.model_dump(include=_OFFICE_FIELDS))
    return dict(cached[1])


def schedule_on(instrument: Instrument, kb: KnowledgeBase, today: date) -> Schedule:
    """The instrument's schedule on `today`: the same for every profile, so computed once per day."""
    key = ("schedule", instrument.id, today)
    if key not in kb.memo:
        kb.memo[key] = schedule(instrument, kb.calls.get(instrument.id, []), today)
    result: Schedule = kb.memo[key]
    return result


def office_for(instrument: Instrument, commune: str | None, kb: KnowledgeBase) -> Office | None:
    """The instrument's own offices serving the commune, else its agency's; None when the commune is unknown."""
    if commune is None:
        return None
    own = [kb.offices[o] for o in instrument.offices if commune in kb.offices[o].serves]
    candidates = own or kb.offices_for(instrument.agency, commune)
    return candidates[0] if candidates else None


def _requires_informality(instrument: Instrument) -> bool:
    return any(c.fact == "formal" and c.eq is False for c in instrument.criteria)


def _phase(result: InstrumentResult, prerequisite_ids: frozenset[str]) -> int:
    instrument = result.instrument
    if instrument.entry_door:
        return 0
    if instrument.id in prerequisite_ids:
        return 2
    return 1 if _requires_informality(instrument) else 3


def _one_per_line(ranked: list[InstrumentResult]) -> list[InstrumentResult]:
    """Keep the best-ranked instrument of each programme line (alternatives of one programme)."""
    lines: set[str] = set()
    kept = []
    for result in ranked:
        line = result.instrument.line
        if line is None or line not in lines:
            kept.append(result)
            lines.update([line] if line else [])
    return kept


def _confirmed(result: InstrumentResult) -> bool:
    """Nothing left to confirm: eligible, or eligible once a prerequisite step is done."""
    return result.status != "to_confirm"


def _rank(result: InstrumentResult) -> tuple[bool, bool, int, int]:
    """Nothing to confirm first; then serves the main need, the status, the criteria met (more targeted)."""
    return (_confirmed(result), result.serves_need, _USABLE[result.status], len(result.reasons))


def _required(kb: KnowledgeBase, facts: dict[str, Any] | None, today: date) -> list[str]:
    """Instruments `rules.yml: route_required` puts in this route (every `when` criterion holds, or is unknown)."""
    if facts is None:
        return []
    required = []
    for rule in kb.rules.route_required:
        outcome = evaluate_all(rule.when, facts, kb, today)
        if outcome.holds or (rule.include_unknown and not outcome.unmet):
            required.append(rule.instrument)
    return required


def _select(results: list[InstrumentResult], limit: int, reserved: int, required: list[str]) -> list[InstrumentResult]:
    """Entry doors, the best-ranked fitting instruments, the prerequisites and the required steps.

    Of the `limit` places, up to `reserved` go to the best instruments to confirm that serve the main need
    (the programme made for what was asked, e.g. Prodesal, whose hectares only Indap can check); the others to
    the best-ranked, nothing to confirm first. A required step never takes a place: it is added besides them,
    like a prerequisite.
    """
    entry = [r for r in results if r.instrument.entry_door and r.status == "eligible"]
    candidates = [
        r
        for r in results
        if not r.instrument.entry_door and r.fits and r.status in _USABLE and r.instrument.id not in required
    ]
    ranked = _one_per_line(sorted(candidates, key=_rank, reverse=True))
    for_need = [r for r in ranked if not _confirmed(r) and r.serves_need][: min(reserved, limit)]
    places = {id(r) for r in for_need}
    places |= {id(r) for r in [r for r in ranked if id(r) not in places][: limit - len(places)]}
    chosen = entry + [r for r in ranked if id(r) in places]
    by_id = {r.instrument.id: r for r in results}
    needed = {p for r in chosen if r.status != "eligible" for p in r.prerequisites} | set(required)
    chosen_ids = {r.instrument.id for r in chosen}
    chosen += [by_id[p] for p in sorted(needed - chosen_ids) if p in by_id and by_id[p].status in _USABLE]
    return chosen


def _order(
    chosen: list[tuple[InstrumentResult, Schedule]], prerequisite_ids: frozenset[str]
) -> list[tuple[InstrumentResult, Schedule]]:
    """Phase and urgency, steps to confirm after the others (see the module's docstring)."""
    phases = {id(result): _phase(result, prerequisite_ids) for result, _ in chosen}
    formalising = any(phases[id(result)] == 2 and _confirmed(result) for result, _ in chosen)

    def key(pair: tuple[InstrumentResult, Schedule]) -> tuple[bool, int, bool, tuple[int, date]]:
        result, when = pair
        phase = phases[id(result)]
        early = _confirmed(result) or (formalising and phase == 1)
        return (not early, phase, not _confirmed(result), when.urgency)

    return sorted(chosen, key=key)


def build_route(
    results: list[InstrumentResult],
    commune: str | None,
    kb: KnowledgeBase,
    today: date,
    facts: dict[str, Any] | None = None,
) -> list[RouteStep]:
    """Ordered, numbered steps for the instruments selected from `results`.

    `facts` (the diagnosis's facts) decide the steps `rules.yml: route_required` adds; without them none is.
    """
    required = _required(kb, facts, today)
    rules = kb.rules
    selected = _select(results, rules.route_max_instruments, rules.route_need_to_confirm_places, required)
    timed = _order([(r, schedule_on(r.instrument, kb, today)) for r in selected], kb.prerequisite_ids)
    return [
        RouteStep(number, result, when, office_for(result.instrument, commune, kb))
        for number, (result, when) in enumerate(timed, start=1)
    ]
