"""The dashboard's list of what needs staff's attention, on the shipped knowledge base and on edited copies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from knowledge.attention import needs_attention
from knowledge.loader import read_directory, validate_files

TODAY = date(2026, 12, 3)


def _kb(**edits: tuple[bytes, bytes]):
    files = read_directory()
    for name, (old, new) in edits.items():
        path = name.replace("__", "/") + ".yml"
        assert old in files[path], (path, old)
        files[path] = files[path].replace(old, new, 1)
    base, problems = validate_files(files)
    assert base is not None, problems
    return base


def _kinds(kb, today=TODAY):
    return {(item.kind, item.item) for item in needs_attention(kb, today)}


def test_offices_without_contact_data_are_listed_and_online_channels_are_not():
    found = [a for a in needs_attention(_kb(), TODAY) if a.kind == "contact"]
    assert found and all(a.file == "offices.yml" and a.problem.startswith("falta ") for a in found)
    kb = _kb()
    assert not {a.item for a in found} & {o.id for o in kb.offices.values() if o.kind == "online"}


def test_an_instrument_verified_long_ago_is_listed():
    fresh = _kinds(_kb())
    assert not any(kind == "unverified" for kind, _ in fresh)
    assert ("unverified", "sercotec_crece") in _kinds(_kb(), today=date(2028, 1, 1))


def test_a_window_near_without_confirmed_dates_is_listed_until_dates_are_entered():
    window_opens = date(2027, 3, 1)  # Capital Semilla usually opens in March
    near = _kinds(_kb(), today=window_opens.replace(month=2, day=1))
    assert ("call_dates", "sercotec_capital_semilla_emprende") in near
    confirmed = _kb(calls=(b"- instrument: sercotec_capital_semilla_emprende\n",
                           b"- instrument: sercotec_capital_semilla_emprende\n  year: 2027\n  opens: 2027-03-02\n"
                           b"  closes: 2027-03-30\n  scope: nacional\n  source: sercotec.cl\n"
                           b"- instrument: sercotec_capital_semilla_emprende\n"))  # fmt: skip
    assert ("call_dates", "sercotec_capital_semilla_emprende") not in _kinds(confirmed, date(2027, 2, 1))


def test_contact_data_without_a_source_is_listed():
    kb = _kb()
    office = next(o for o in kb.offices.values() if o.kind != "online")
    filled = office.model_copy(update={"address": "Atacama 1", "phone": "+56 52 2 000000", "hours": "9 a 14"})
    read = filled.model_copy(update={"contact_source": "https://www.sercotec.cl", "contact_verified": TODAY})
    with_source = replace(kb, offices={**kb.offices, office.id: read})
    without = replace(kb, offices={**kb.offices, office.id: filled.model_copy(update={"contact_source": None})})
    assert ("contact", office.id) not in _kinds(with_source)
    assert ("source", office.id) not in _kinds(with_source)
    assert ("source", office.id) in _kinds(without)
