"""Issue 11: reminders of the calls on a route, driven by a fake clock (the `today` each look is made on).

A reminder goes out when a confirmed call opens and once more a few days before it closes, on the dates of the
knowledge base of that day; a cancelled call reminds nobody; the closing reminder deletes the row and its
address; a reminder due while the bot was down goes out once at the next look; two processes looking at once
send each reminder once; nothing kept holds the chat id in clear."""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from bot.addresses import AddressCipher
from bot.reminders import Reminders, load_reminder_rules, new_reminders
from bot.storage import NewReminder, OutboxRow, ReminderRow, Store
from knowledge import KnowledgeBase, load_knowledge_base
from knowledge.models import Call

SEMILLA = "sercotec_capital_semilla_emprende"
CRECE = "sercotec_crece"
OPENS, CLOSES = date(2030, 3, 4), date(2030, 4, 1)
CIPHER = AddressCipher(b"k" * 32)
RULES = load_reminder_rules()


def _call(instrument: str = SEMILLA, opens: date | None = OPENS, closes: date = CLOSES, **extra: Any) -> Call:
    return Call(
        instrument=instrument, year=closes.year, opens=opens, closes=closes, scope="atacama", source="test", **extra
    )


class Knowledge:
    """The knowledge base serving, which staff may change between two looks."""

    def __init__(self, *calls: Call) -> None:
        self.base = load_knowledge_base()
        self.kb = self.base
        self.publish(*calls)

    def publish(self, *calls: Call) -> None:
        by_instrument = {k: list(v) for k, v in self.base.calls.items()}
        for call in sorted(calls, key=lambda call: call.closes):
            if not call.cancelled:  # as the loader does
                by_instrument.setdefault(call.instrument, []).append(call)
        self.kb = replace(self.base, calls=by_instrument)

    def __call__(self) -> KnowledgeBase:
        return self.kb


@pytest.fixture
def store(database_url: str) -> Store:
    return Store(database_url)


def _subscribe(
    store: Store, chat: str, instruments: list[str], kb: KnowledgeBase, today: date, channel: str = "telegram"
) -> str:
    """What a "Sí, avísame" writes (with the turn, see tests/test_reminders_chat.py for the whole way)."""
    key = hashlib.sha256(chat.encode()).hexdigest()  # the engine keys by an HMAC: never the chat id
    rows = new_reminders(instruments, "vallenar", kb, today, RULES)
    read = store.load_conversation(key)
    address = CIPHER.encrypt(chat)
    store.commit_turn(key, channel, read, {"phase": "done"}, [], address=address, reminders=rows)
    return key


def _outbox(store: Store) -> list[OutboxRow]:
    return store.undelivered()


def _rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ReminderRow)).scalar_one())


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_a_call_reminds_when_it_opens_and_days_before_it_closes_then_forgets_the_address(store: Store) -> None:
    knowledge = Knowledge(_call())
    _subscribe(store, "1001", [SEMILLA], knowledge(), date(2030, 1, 10))
    reminders = Reminders(store, knowledge, "telegram", "html")
    sent: dict[date, int] = {day: reminders.queue_due(day) for day in _days(date(2030, 1, 10), date(2030, 5, 1))}
    closing_day = CLOSES - timedelta(days=RULES.days_before_close)
    assert {day: n for day, n in sent.items() if n} == {OPENS: 1, closing_day: 1}
    opened, closing = (Reply(row.reply) for row in _outbox(store))
    assert "Capital Semilla" in opened.text and "abrió la postulación" in opened.text
    assert "1 abr 2030" in closing.text and f"quedan {RULES.days_before_close} días" in closing.text
    assert opened.buttons == [{"title": "Ver mi ruta", "payload": "/show_route"}]
    assert "Vallenar" in opened.text  # the office for the person's commune
    assert _rows(store) == 0  # the last reminder deleted the row, and the address with it


def test_dates_changed_by_staff_remind_on_the_new_dates(store: Store) -> None:
    knowledge = Knowledge(_call())
    _subscribe(store, "1001", [SEMILLA], knowledge(), date(2030, 1, 10))
    reminders = Reminders(store, knowledge, "telegram", "html")
    assert reminders.queue_due(OPENS) == 1
    later = date(2030, 4, 20)
    knowledge.publish(_call(closes=later))  # the deadline was extended after the opening reminder
    assert reminders.queue_due(CLOSES - timedelta(days=RULES.days_before_close)) == 0
    assert reminders.queue_due(later - timedelta(days=RULES.days_before_close)) == 1
    assert "20 abr 2030" in _outbox(store)[-1].reply["text"]


def test_a_cancelled_call_reminds_nobody(store: Store) -> None:
    knowledge = Knowledge(_call())
    _subscribe(store, "1001", [SEMILLA], knowledge(), date(2030, 1, 10))
    knowledge.publish(_call(cancelled=True))
    reminders = Reminders(store, knowledge, "telegram", "html")
    assert sum(reminders.queue_due(day) for day in _days(date(2030, 1, 10), date(2030, 5, 1))) == 0
    assert _outbox(store) == [] and _rows(store) == 1  # kept for a call that may still be announced


def test_a_call_open_when_the_person_said_yes_is_not_announced_as_opening(store: Store) -> None:
    knowledge = Knowledge(_call())
    _subscribe(store, "1001", [SEMILLA], knowledge(), date(2030, 3, 10))  # the route said it is open
    reminders = Reminders(store, knowledge, "telegram", "html")
    assert reminders.queue_due(date(2030, 3, 11)) == 0
    assert reminders.queue_due(CLOSES - timedelta(days=RULES.days_before_close)) == 1


def test_a_reminder_due_while_the_bot_was_down_goes_out_once_at_the_next_start(database_url: str) -> None:
    url = database_url
    knowledge = Knowledge(_call())
    _subscribe(Store(url), "1001", [SEMILLA], knowledge(), date(2030, 1, 10))
    # down from 1 March to 10 March: the opening on 4 March was missed
    restarted = Store(url)
    reminders = Reminders(restarted, knowledge, "telegram", "html")
    assert reminders.queue_due(date(2030, 3, 10)) == 1
    assert Reminders(Store(url), knowledge, "telegram", "html").queue_due(date(2030, 3, 10)) == 0  # a second start
    assert len(_outbox(restarted)) == 1


def _look_when_told(url: str, start: Any, today: date) -> int:
    """One process of the bot: its own connection, looking at the reminders when the other one does."""
    reminders = Reminders(
        Store(url), Knowledge(_call(), _call(CRECE, date(2030, 3, 1), date(2030, 3, 30))), "telegram", "html"
    )
    start.wait()
    return reminders.queue_due(today)


def test_two_processes_looking_at_once_send_each_reminder_once(database_url: str) -> None:
    url = database_url
    knowledge = Knowledge(_call(), _call(CRECE, date(2030, 3, 1), date(2030, 3, 30)))
    store = Store(url)
    for chat in range(300):
        _subscribe(store, str(1000 + chat), [SEMILLA, CRECE], knowledge(), date(2030, 1, 10))
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
        start = manager.Barrier(2)
        looks = [pool.submit(_look_when_told, url, start, date(2030, 3, 5)) for _ in range(2)]
        counts = [look.result(timeout=120) for look in looks]
    assert sum(counts) == 600
    rows = _outbox(store)
    assert len(rows) == 600 and len({(row.user_key, row.reply["text"]) for row in rows}) == 600


def test_stopping_and_erasing_delete_the_reminders(store: Store) -> None:
    knowledge = Knowledge(_call())
    kept = _subscribe(store, "1001", [SEMILLA], knowledge(), date(2030, 1, 10))
    stopped = _subscribe(store, "1002", [SEMILLA], knowledge(), date(2030, 1, 10))
    erased = _subscribe(store, "1003", [SEMILLA], knowledge(), date(2030, 1, 10))
    read = store.load_conversation(stopped)
    store.commit_turn(stopped, "telegram", read, {"phase": "done"}, [], reminders=[])  # "ya no quiero avisos"
    store.erase(erased)  # /borrar
    with store.engine.connect() as connection:
        assert list(connection.execute(select(ReminderRow.user_key)).scalars()) == [kept]


def test_no_column_holds_the_chat_id_in_clear(store: Store) -> None:
    knowledge = Knowledge(_call())
    chat = "987654321"
    _subscribe(store, chat, [SEMILLA, CRECE], knowledge(), date(2030, 1, 10))
    Reminders(store, knowledge, "telegram", "html").queue_due(OPENS)
    with store.engine.connect() as connection:
        for table in inspect(store.engine).get_table_names():  # every column of every table
            for row in connection.exec_driver_sql(f"SELECT * FROM {table}"):
                assert all(chat not in str(value) for value in row), table


def test_the_whatsapp_template_parameters_are_one_line_each(store: Store) -> None:
    knowledge = Knowledge(_call())
    _subscribe(store, "56911112222", [SEMILLA], knowledge(), date(2030, 1, 10), channel="whatsapp")
    Reminders(store, knowledge, "whatsapp", "whatsapp").queue_due(OPENS)
    template = _outbox(store)[0].reply["template"]
    assert template["name"] == RULES.whatsapp_template.name and len(template["parameters"]) == 3
    assert all(p and "\n" not in p and "     " not in p for p in template["parameters"])


def test_new_reminders_name_the_call_already_open() -> None:
    knowledge = Knowledge(_call())
    rows = new_reminders([SEMILLA, CRECE], None, knowledge(), date(2030, 3, 10), RULES)
    assert rows == [NewReminder(SEMILLA, None, "2030"), NewReminder(CRECE, None, None)]


class Reply:
    """An outbox record, read."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.text: str = record["text"]
        self.buttons: list[dict[str, str]] = record["buttons"]
