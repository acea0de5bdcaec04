"""Storage: migrations, state round trip, erasure, and the schema revision constant."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from bot.storage import MIGRATIONS, SCHEMA_REVISION, NewReminder, Store, StoredConversation
from tests.postgres import PostgresServer


def test_the_schema_revision_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_a_new_database_is_migrated_and_reopening_it_changes_nothing(database_url: str) -> None:
    url = database_url
    Store(url).close()
    store = Store(url)
    assert {"conversations", "diagnoses", "alembic_version"} <= set(inspect(store.engine).get_table_names())


def test_state_round_trip_and_erasure(database_url: str) -> None:
    store = Store(database_url)
    store.save_state("k1", {"phase": "form", "slots": {"age": 40}})
    store.save_state("k1", {"phase": "done", "slots": {"age": 41}})
    store.add_diagnosis("k1", {"age": 41}, {"segment": "subsistence"}, "v1")
    store.add_diagnosis("k2", {"age": 30}, {"segment": "subsistence"}, "v1")
    assert store.load_state("k1") == {"phase": "done", "slots": {"age": 41}}
    store.erase("k1")
    assert store.load_state("k1") is None
    assert store.diagnoses("k1") == []
    assert len(store.diagnoses("k2")) == 1


def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
    engine.dispose()


def test_every_migration_goes_down_to_an_empty_database_and_up_again(database_url: str) -> None:
    Store(database_url).close()
    _alembic(database_url, "downgrade", "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    _alembic(database_url, "upgrade", "head")
    store = Store(database_url)
    store.save_state("k", {"phase": "done"})
    assert store.unfinished() == ["k"]
    store.close()


def test_the_outbox_migration_keeps_conversations_and_goes_back(database_url: str) -> None:
    url = database_url
    _alembic(url, "upgrade", "0004")
    engine = create_engine(url)
    with engine.begin() as connection:
        insert = "INSERT INTO conversations (key, state, updated_at) VALUES ('k', :state, '2026-01-01')"
        connection.execute(text(insert), {"state": '{"phase": "form"}'})
    engine.dispose()
    store = Store(url)  # upgrades to the newest revision
    read = store.load_conversation("k")
    assert read == StoredConversation({"phase": "form"}, 0)
    store.commit_turn("k", "console", read, {"phase": "done"}, [{"text": "hola", "buttons": [], "diagnosis": None}])
    assert store.load_conversation("k").version == 1 and len(store.undelivered("k")) == 1
    store.close()
    _alembic(url, "downgrade", "0004")
    assert "outbox" not in inspect(create_engine(url)).get_table_names()
    assert Store(url).load_state("k") == {"phase": "done"}


def test_the_reminders_migration_keeps_the_conversation_and_goes_back(database_url: str) -> None:
    url = database_url
    store = Store(url)
    read = store.load_conversation("k")
    reminders = [NewReminder("sercotec_crece", "copiapo")]
    store.commit_turn("k", "telegram", read, {"phase": "done"}, [], address="encrypted", reminders=reminders)
    store.close()
    _alembic(url, "downgrade", "0006")
    assert "reminders" not in inspect(create_engine(url)).get_table_names()
    _alembic(url, "upgrade", "0007")
    store = Store(url)
    assert store.load_state("k") == {"phase": "done"}
    store.commit_turn("k", "telegram", store.load_conversation("k"), {"phase": "done"}, [], reminders=reminders)
    with store.engine.connect() as connection:  # without an address nothing is kept to write back to
        assert connection.execute(text("SELECT count(*) FROM reminders")).scalar_one() == 0


@pytest.mark.postgresql
def test_a_restarted_postgresql_server_does_not_fail_the_next_request(postgres_server: PostgresServer) -> None:
    with postgres_server.database() as url:
        store = Store(url)
        store.save_state("k", {"phase": "form"})  # its connection waits in the pool
        postgres_server.restart()
        assert store.load_state("k") == {"phase": "form"}
        store.close()


def test_a_chats_line_gives_places_in_arrival_order_and_erasure_deletes_it(database_url: str) -> None:
    store = Store(database_url)
    if store.engine.dialect.name != "postgresql":
        assert store.take_ticket("k1") is None  # one process keeps the order on SQLite
        return
    assert [store.take_ticket("k1"), store.take_ticket("k1"), store.take_ticket("k2")] == [(1, 0), (2, 0), (1, 0)]
    with store.turn_lock("k1", 1):
        assert store.served("k1") == 0  # marked with the turn's commit, not before
    assert store.served("k1") == 1
    store.pass_turn("k1", 2)
    store.pass_turn("k1", 1)  # never moves the line back
    assert (store.served("k1"), store.take_ticket("k1")) == (2, (3, 2))
    with pytest.raises(RuntimeError), store.turn_lock("k2", 1):
        raise RuntimeError("the turn failed")
    assert store.served("k2") == 0  # a failed turn serves nothing: the caller passes its place
    store.erase("k1")
    assert store.served("k1") is None and store.served("k2") == 0
