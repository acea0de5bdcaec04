"""`ruta telegram` and `ruta serve` as processes: configuration errors exit 2 naming the setting; the bot runs."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import pytest

from tests.fakes.telegram_api import FakeBotApi
from tests.ruta_process import RUTA, run_ruta, ruta_env


@pytest.mark.parametrize(
    ("command", "values", "message"),
    [
        (["telegram"], {}, "RUTA_TELEGRAM_TOKEN is not set"),
        (["serve"], {"RUTA_WHATSAPP_TOKEN": "x"}, "RUTA_WHATSAPP_PHONE_NUMBER_ID"),
    ],
)
def test_a_missing_setting_exits_2_naming_it(tmp_path, command, values, message):
    result = run_ruta(tmp_path, *command, **values)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_ruta_telegram_answers_and_stops_cleanly(tmp_path):
    async with FakeBotApi() as fake:
        env = ruta_env(
            tmp_path,
            RUTA_TELEGRAM_TOKEN=fake.token,
            RUTA_TELEGRAM_BASE_URL=fake.base_url,
        )
        bot = subprocess.Popen([str(RUTA), "telegram"], env=env, stderr=subprocess.PIPE, text=True)
        try:
            fake.send_text(8001, "/start")
            replies = await fake.wait_for_messages(8001, 2, timeout=90)
        finally:
            bot.send_signal(signal.SIGINT)
            _, logs = await asyncio.to_thread(bot.communicate, timeout=60)
    assert bot.returncode == 0
    assert "Antes de empezar" in replies[-1].text
    assert fake.commands
    assert "8001" not in logs  # JSON logs without the chat id
