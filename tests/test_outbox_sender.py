"""The outbox sender's rules, with a transport that fails on demand (the real HTTP cases are in
tests/channels/test_outbox.py): leases keep two senders apart, a flood limit waits as long as asked and holds
the chat's later replies back, a refused or too old reply is dropped and counted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.addresses import AddressCipher
from bot.channels.sender import OutboxSender
from bot.outbox import OutboxQueue
from bot.replies import Reply
from bot.storage import OutboxRow, Store

CIPHER = AddressCipher(b"k" * 32)


class Refused(Exception):
    pass


class Transport:
    """Records what it sends; `fail` maps a text to the wait to ask for (None: refused for good)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail: dict[str, float | None] = {}

    def parts(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def send(self, address: str, part: str, tag: str = "") -> None:
        if part in self.fail:
            raise Refused(part)
        self.sent.append((address, part))

    def retry_delay(self, exc: Exception, attempt: int) -> float | None:
        return self.fail[str(exc)]


@pytest.fixture
def store(database_url: str) -> Store:
    return Store(database_url)


def _queue(store: Store, key: str, address: str, *texts: str) -> None:
    read = store.load_conversation(key)
    replies = [{"text": text, "buttons": [], "diagnosis": None} for text in texts]
    store.commit_turn(key, "telegram", read, {"phase": "form"}, replies, address=CIPHER.encrypt(address))


async def _run(sender: OutboxSender, seconds: float = 0.3) -> None:
    sender.start()
    await asyncio.sleep(seconds)
    await sender.stop()


def test_a_leased_chat_is_not_claimed_by_another_sender(store: Store) -> None:
    _queue(store, "a", "1001", "uno", "dos")
    first, second = OutboxQueue(store), OutboxQueue(store)
    [rows] = first.claim("telegram", 10, set())
    assert [row.reply["text"] for row in rows] == ["uno", "dos"]
    assert second.claim("telegram", 10, set()) == []
    first.release([row.id for row in rows])
    assert len(second.claim("telegram", 10, set())) == 1


def test_a_chat_another_sender_leased_since_the_scan_is_left_whole(store: Store) -> None:
    _queue(store, "a", "1001", "uno", "dos")
    [leased] = OutboxQueue(store).claim("telegram", 10, set())
    _queue(store, "a", "1001", "tres")
    ids = [row.id for row in leased] + [row.id for row in store.undelivered("a")[2:]]
    with store.engine.begin() as connection:  # what a sender that scanned before the lease tries
        assert not OutboxQueue(store)._lease(connection, ids, datetime.now(UTC))
    assert [row.claimed_until is None for row in store.undelivered("a")] == [False, False, True]


async def test_a_flood_limit_waits_as_asked_and_holds_the_chats_later_replies(store: Store) -> None:
    _queue(store, "a", "1001", "uno", "dos")
    _queue(store, "b", "1002", "otro")
    transport = Transport()
    transport.fail["uno"] = 30.0
    sender = OutboxSender(OutboxQueue(store), CIPHER, "telegram", transport)
    await _run(sender)
    assert transport.sent == [("1002", "otro")]  # "dos" waits behind "uno"; the other chat goes on
    [first, second] = store.undelivered("a")
    assert first.attempts == 1 and first.not_before is not None
    assert first.not_before.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(seconds=25)
    assert second.claimed_until is None and sender.counts == {"delivered": 1, "retried": 1}


async def test_a_refused_or_too_old_reply_is_dropped_and_counted(store: Store, caplog: Any) -> None:
    _queue(store, "a", "1001", "rechazado", "bien")
    _queue(store, "b", "1002", "viejo")
    with store.engine.begin() as connection:
        old = datetime.now(UTC) - timedelta(hours=25)
        connection.execute(update(OutboxRow.__table__).where(OutboxRow.user_key == "b").values(created_at=old))
    transport = Transport()
    transport.fail["rechazado"] = None
    sender = OutboxSender(OutboxQueue(store), CIPHER, "telegram", transport)
    await _run(sender)
    assert transport.sent == [("1001", "bien")]
    assert store.undelivered() == [] and sender.counts == {"delivered": 1, "dropped": 2}
    reasons = sorted(r.reason for r in caplog.records if getattr(r, "event", "") == "outbox_drop")
    assert reasons == ["refused (Refused)", "too_old"]


@pytest.mark.parametrize("receipt", [True, False], ids=["receipt", "no-receipt"])
async def test_a_reply_whose_sender_died_after_sending_it_is_sent_again_only_without_a_receipt(
    store: Store, receipt: bool
) -> None:
    """A sender sent a reply and died before deleting it: once its lease ran out, the next sender looks for the
    service's receipt of it (WhatsApp's status webhook) and sends it again only if there is none."""
    from bot.channels.sender import _tag

    _queue(store, "a", "1001", "uno")
    died = OutboxQueue(store, lease_seconds=0.05)
    [[row]] = died.claim("telegram", 10, set())
    if receipt:
        died.record_receipts([_tag(row, 0)])
    await asyncio.sleep(0.1)
    transport = Transport()
    await _run(OutboxSender(OutboxQueue(store), CIPHER, "telegram", transport))
    assert transport.sent == ([] if receipt else [("1001", "uno")])
    assert store.undelivered("a") == []
