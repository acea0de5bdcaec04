"""The preview of a draft: routes side by side and the change summary over the fixed sample of profiles."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from bot.kb_preview import change_summary, compare, sample_profiles
from knowledge import load_knowledge_base

TODAY = date(2026, 12, 3)


def test_the_sample_is_fixed_and_covers_every_commune_and_sector():
    kb = load_knowledge_base()
    sample = sample_profiles(kb)
    assert sample == sample_profiles(kb) and len(sample) == 1000
    assert {p.commune for p in sample} == set(kb.communes) and {p.sector for p in sample} == set(kb.sectors)


def test_no_change_changes_no_route():
    kb = load_knowledge_base()
    assert change_summary(kb, kb, TODAY).changed == 0


def test_an_office_address_changes_the_routes_of_the_communes_it_serves_only():
    kb = load_knowledge_base()
    office = kb.offices["sercotec_centro_negocios_copiapo"]
    draft = replace(kb, offices={**kb.offices, office.id: office.model_copy(update={"address": "Atacama 1024"})})
    summary = change_summary(kb, draft, TODAY)
    assert 0 < summary.changed < summary.total and len(summary.examples) == 5
    assert all(example.profile.commune in office.serves for example in summary.examples)
    example = summary.examples[0]
    assert "Atacama 1024" in str(compare(example.profile, kb, draft, TODAY).draft)
    assert "Atacama 1024" not in str(example.published)
