"""What is stored after real conversations: no raw id, phone, name or free text anywhere; consent recorded."""

from __future__ import annotations

import sqlite3

from tests.channels.telegram_harness import load_scripts
from tests.test_conversations import make_engine

PHONE = "56987654321"
HANDLE = "ana.perez.rojas"
SECRETS = [PHONE, HANDLE, "Ana", "Pérez", "Perez", "Rojas", "12.345.678", "empanadas", "doña"]
INTRODUCTION = "hola, me llamo Ana Pérez Rojas, mi rut es 12.345.678-9 y hago empanadas con doña Rosa en Copiapó"


def _dump(database) -> str:
    with sqlite3.connect(database) as connection:
        return "\n".join(connection.iterdump())


def _count(database, table: str) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _talk(engine, channel, user, steps):
    for _, text in steps:
        engine.handle(channel, user, text)


def test_no_identifier_or_free_text_is_stored(embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    engine = make_engine(embedded_nlu, database)
    script = load_scripts()["costura_vallenar"]
    engine.handle("whatsapp", PHONE, INTRODUCTION)
    _talk(engine, "whatsapp", PHONE, script[1:])
    engine.handle("telegram", HANDLE, INTRODUCTION)
    _talk(engine, "telegram", HANDLE, script[1:6])
    dump = _dump(database)
    assert _count(database, "conversations") == 2 and _count(database, "diagnoses") == 1
    assert [secret for secret in SECRETS if secret in dump] == []
    [record] = engine.store.diagnoses()
    assert record.consent is True
    assert record.user_key == engine.user_key("whatsapp", PHONE) != PHONE


def test_borrar_removes_state_and_records(embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    engine = make_engine(embedded_nlu, database)
    _talk(engine, "whatsapp", PHONE, load_scripts()["costura_vallenar"])
    key = engine.user_key("whatsapp", PHONE)
    assert engine.store.diagnoses(key)
    engine.handle("whatsapp", PHONE, "/borrar")
    assert engine.store.load_state(key) is None and engine.store.diagnoses(key) == []
    assert key not in _dump(database)


def test_declining_consent_keeps_nothing(embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    engine = make_engine(embedded_nlu, database)
    engine.handle("telegram", HANDLE, INTRODUCTION)
    engine.handle("telegram", HANDLE, "no, gracias")
    assert _count(database, "diagnoses") == 0
    state = engine.store.load_state(engine.user_key("telegram", HANDLE)) or {}
    assert not state.get("slots") and not state.get("pending")


def test_replies_waiting_in_the_outbox_hold_no_identifier_or_free_text(embedded_nlu, tmp_path):
    database = tmp_path / "db.sqlite3"
    engine = make_engine(embedded_nlu, database)
    for channel, user in (("whatsapp", PHONE), ("telegram", HANDLE)):
        engine.respond(channel, user, INTRODUCTION)  # never reported delivered: they stay in the outbox
        for _, text in load_scripts()["costura_vallenar"][1:]:
            engine.respond(channel, user, text)
    assert _count(database, "outbox") > 30
    dump = _dump(database)
    assert [secret for secret in SECRETS if secret in dump] == []
