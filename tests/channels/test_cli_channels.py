"""`ruta telegram` and `ruta serve` as processes: configuration errors exit 2 naming the setting; the bot runs.

A Bot API server without setMyCommands does not stop the bot; one that refuses the webhook stops `ruta serve`
with one line and exit code 3 (uvicorn's failed start-up), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess

import pytest

from tests.fakes.telegram_api import FakeBotApi, MethodStatus
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


@pytest.mark.parametrize("menu_status", [None, 404], ids=["menu", "no-set-my-commands"])
async def test_ruta_telegram_answers_and_stops_cleanly(tmp_path, menu_status: MethodStatus | None):
    method_status = {"setMyCommands": menu_status} if menu_status else {}
    async with FakeBotApi(method_status=method_status) as fake:
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
    assert "8001" not in logs  # JSON logs without the chat id
    assert "Traceback" not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line.get("event") == "command_menu_skipped"]
    if menu_status is None:
        assert fake.commands and not warnings
    else:
        assert not fake.commands
        assert [(w["level"], w["call"], w["error"]) for w in warnings] == [("warning", "setMyCommands", "InvalidToken")]
        assert fake.token not in logs and fake.url not in logs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_ruta_serve_stops_with_one_line_when_the_webhook_is_refused(tmp_path):
    async with FakeBotApi(method_status={"setWebhook": 404}) as fake:
        env = ruta_env(
            tmp_path,
            RUTA_TELEGRAM_TOKEN=fake.token,
            RUTA_TELEGRAM_BASE_URL=fake.base_url,
            RUTA_TELEGRAM_WEBHOOK_URL="https://bot.example.cl/telegram",
        )
        command = [str(RUTA), "serve", "--port", str(_free_port())]
        server = await asyncio.to_thread(
            subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert server.returncode == 3
    assert "Traceback" not in server.stderr
    errors = [json.loads(line) for line in server.stderr.splitlines() if '"level":"error"' in line]
    refused = [e["message"] for e in errors if e["message"].startswith("ruta: ")]
    assert refused == [
        "ruta: Telegram did not accept the webhook (setWebhook: InvalidToken: Not Found); "
        "check RUTA_TELEGRAM_WEBHOOK_URL, RUTA_TELEGRAM_TOKEN and RUTA_TELEGRAM_BASE_URL"
    ]
    assert fake.token not in server.stderr and "bot.example.cl" not in server.stderr
    assert fake.call_counts["setWebhook"] == 1  # a 404 is final; a 5xx would be retried first
