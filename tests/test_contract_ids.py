"""The ids that other programs rely on (DESIGN.md contracts) exist in the knowledge base."""

from __future__ import annotations

from knowledge import KnowledgeBase

COMMUNES = "copiapo caldera tierra_amarilla chanaral diego_de_almagro vallenar freirina huasco alto_del_carmen"
SECTORS = "agro pesca mineria turismo comercio gastronomia manufactura servicios construccion transporte otro"
AGENCIES = (
    "sercotec fosis corfo sence indap sernameg prochile sernatur indespa sernapesca minmineria enami bancoestado sii"
)
INSTRUMENTS = """
sercotec_capital_semilla_emprende sercotec_capital_abeja_emprende sercotec_crece sercotec_almacenes
sercotec_centro_negocios fosis_yo_emprendo_semilla fosis_yo_emprendo corfo_semilla_inicia
sence_franquicia_tributaria indap_prodesal sernameg_mujer_emprende minmineria_pamma indespa_fondo
bancoestado_credito_micro sii_inicio_actividades
"""


def test_communes_are_exactly_the_nine_of_atacama(kb: KnowledgeBase) -> None:
    assert set(kb.communes) == set(COMMUNES.split())


def test_sectors_are_the_contract_ids(kb: KnowledgeBase) -> None:
    assert set(kb.sectors) == set(SECTORS.split())


def test_every_contract_agency_exists(kb: KnowledgeBase) -> None:
    assert set(AGENCIES.split()) <= set(kb.agencies)


def test_every_contract_instrument_exists_among_at_least_25(kb: KnowledgeBase) -> None:
    assert set(INSTRUMENTS.split()) <= set(kb.instruments)
    assert len(kb.instruments) >= 25


def test_every_instrument_is_sourced_and_dated(kb: KnowledgeBase) -> None:
    for instrument in kb.instruments.values():
        assert instrument.sources and instrument.verified, instrument.id
        assert instrument.requirements or not instrument.criteria, f"{instrument.id}: criteria without requirements"


def test_every_commune_is_served_by_every_agency(kb: KnowledgeBase) -> None:
    for agency in {instrument.agency for instrument in kb.instruments.values()}:
        for commune in kb.communes:
            assert kb.offices_for(agency, commune), (agency, commune)
