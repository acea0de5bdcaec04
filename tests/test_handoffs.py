"""Hand-off codes (bot/handoffs.py): their shape, one valid code per person, expiry, look-ups as staff type them,
collisions drawn again, erasure and retention, the migration that makes their table, and that the table keeps the
conversation's pseudonym and nothing else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, select, text

from bot.handoffs import ALPHABET, HandoffCodes, MalformedCode, draw_code, parse_code
from bot.storage import HandoffCodeRow, Store
from tests.test_storage import _alembic

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TWO_WEEKS = timedelta(days=14)
KEY = "a" * 64  # a pseudonym: what the engine keys conversations by


@pytest.fixture
def store(database_url: str) -> Store:
    return Store(database_url)


@pytest.fixture
def codes(store: Store) -> HandoffCodes:
    return HandoffCodes(store)


def _kept(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return sorted(connection.execute(select(HandoffCodeRow.code)).scalars())


def test_codes_are_ruta_and_four_characters_without_look_alikes() -> None:
    assert len(ALPHABET) == 31 and not set(ALPHABET) & set("0O1IL")
    drawn = {draw_code() for _ in range(2_000)}
    assert all(re.fullmatch(f"RUTA-[{ALPHABET}]{{4}}", code) for code in drawn)
    assert len(drawn) > 1_900  # drawn at random, not from a short list
    assert set("".join(code[5:] for code in drawn)) == set(ALPHABET)  # every character can appear


def test_a_person_gets_the_same_code_while_it_is_valid_and_a_new_one_after(codes: HandoffCodes) -> None:
    first = codes.code_for(KEY, NOW, TWO_WEEKS)
    assert first.expires_at == NOW + TWO_WEEKS and str(first) == first.code
    assert codes.code_for(KEY, NOW + timedelta(days=13), TWO_WEEKS) == first
    assert codes.code_for("b" * 64, NOW, TWO_WEEKS).code != first.code  # each person their own
    later = NOW + timedelta(days=15)
    second = codes.code_for(KEY, later, TWO_WEEKS)
    assert second.code != first.code and second.expires_at == later + TWO_WEEKS
    expired = codes.look_up(first.code, later)
    assert (expired.problem, expired.user_key, expired.expires_at) == ("expired", None, NOW + TWO_WEEKS)
    assert codes.look_up(second.code, later).user_key == KEY


def test_a_code_leads_to_its_pseudonym_until_it_expires_and_unknown_codes_lead_nowhere(codes: HandoffCodes) -> None:
    code = codes.code_for(KEY, NOW, TWO_WEEKS).code
    found = codes.look_up(code, NOW + TWO_WEEKS - timedelta(seconds=1))
    assert (found.problem, found.user_key) == (None, KEY)
    assert codes.look_up(code, NOW + TWO_WEEKS).problem == "expired"
    other = next(c for c in (f"RUTA-{ch * 4}" for ch in ALPHABET) if c != code)
    unknown = codes.look_up(other, NOW)
    assert (unknown.problem, unknown.user_key, unknown.expires_at) == ("unknown", None, None)


@pytest.mark.parametrize("typed", ["RUTA-7K3Q", "ruta-7k3q", " Ruta - 7K 3q ", "7k3q", "RUTA7K3Q", "ruta 7K3Q\n"])
def test_staff_may_type_a_code_in_any_case_with_spaces_and_without_its_prefix(typed: str) -> None:
    assert parse_code(typed) == "RUTA-7K3Q"


def test_a_code_made_of_the_prefix_letters_is_read_as_a_code() -> None:
    assert parse_code("RUTA") == parse_code("ruta-ruta") == "RUTA-RUTA"


@pytest.mark.parametrize(
    "typed", ["", "RUTA-", "RUTA-7K3", "RUTA-7K3QX", "RUTA-7K3O", "RUTA-1234", "hola", "RUTA_7K3Q"]
)
def test_text_that_cannot_be_a_code_is_malformed(codes: HandoffCodes, typed: str) -> None:
    with pytest.raises(MalformedCode) as raised:
        codes.look_up(typed, NOW)
    assert raised.value.given == typed


def test_a_code_drawn_twice_is_drawn_again(store: Store) -> None:
    taken = HandoffCodes(store, draw=lambda: "RUTA-AAAA").code_for(KEY, NOW, TWO_WEEKS)
    draws = iter(["RUTA-AAAA", "RUTA-AAAA", "RUTA-BBBB"])
    codes = HandoffCodes(store, draw=lambda: next(draws))
    assert codes.code_for("b" * 64, NOW, TWO_WEEKS).code == "RUTA-BBBB"
    assert codes.look_up(taken.code, NOW).user_key == KEY  # the first owner keeps theirs
    with pytest.raises(RuntimeError, match="no free hand-off code"):
        HandoffCodes(store, draw=lambda: "RUTA-AAAA").code_for("c" * 64, NOW, TWO_WEEKS)


def test_erasing_a_person_deletes_their_codes_only(store: Store, codes: HandoffCodes) -> None:
    mine = codes.code_for(KEY, NOW - timedelta(days=30), TWO_WEEKS).code  # an expired one too
    mine_now = codes.code_for(KEY, NOW, TWO_WEEKS).code
    theirs = codes.code_for("b" * 64, NOW, TWO_WEEKS).code
    store.erase(KEY)
    assert _kept(store) == [theirs]
    assert codes.look_up(mine, NOW).problem == codes.look_up(mine_now, NOW).problem == "unknown"


def test_the_purge_deletes_codes_of_purged_conversations_and_codes_expired_long_ago(store: Store) -> None:
    now = datetime.now(UTC)
    store.save_state(KEY, {"phase": "done"})
    store.save_state("b" * 64, {"phase": "done"})
    codes = HandoffCodes(store)
    valid = codes.code_for(KEY, now, TWO_WEEKS).code
    just_expired = codes.code_for("b" * 64, now - timedelta(days=20), TWO_WEEKS).code  # still says when it expired
    codes.code_for("b" * 64, now - timedelta(days=60), TWO_WEEKS)  # expired 46 days ago
    codes.code_for("c" * 64, now, TWO_WEEKS)  # its conversation is gone
    store.purge(now - timedelta(days=365))
    assert _kept(store) == sorted([valid, just_expired])
    store.purge(now + timedelta(days=1))  # every conversation older than the cut-off: their codes go with them
    assert _kept(store) == []


def test_the_table_keeps_the_pseudonym_and_dates_only(store: Store, codes: HandoffCodes) -> None:
    code = codes.code_for(KEY, NOW, TWO_WEEKS).code
    columns = {column["name"] for column in inspect(store.engine).get_columns("handoff_codes")}
    assert columns == {"code", "user_key", "created_at", "expires_at"}
    with store.engine.connect() as connection:
        [row] = connection.execute(text("SELECT * FROM handoff_codes")).mappings()
    assert row["code"] == code and row["user_key"] == KEY


def test_the_migration_makes_the_table_keeps_the_data_and_goes_back(database_url: str) -> None:
    url = database_url
    _alembic(url, "upgrade", "0005")
    engine = create_engine(url)
    with engine.begin() as connection:
        insert = (
            "INSERT INTO conversations (key, state, updated_at) VALUES (:key, '{\"phase\": \"done\"}', '2026-01-01')"
        )
        connection.execute(text(insert), {"key": KEY})
    engine.dispose()
    store = Store(url)  # upgrades to the newest revision
    code = HandoffCodes(store).code_for(KEY, NOW, TWO_WEEKS).code
    assert HandoffCodes(store).look_up(code, NOW).user_key == KEY
    store.close()
    _alembic(url, "downgrade", "0005")
    engine = create_engine(url)
    assert "handoff_codes" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT key FROM conversations")).scalars().all() == [KEY]
    engine.dispose()
    _alembic(url, "upgrade", "0006")
    assert HandoffCodes(Store(url)).look_up(code, NOW).problem == "unknown"  # a new, empty table
