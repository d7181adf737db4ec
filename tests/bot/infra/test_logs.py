from __future__ import annotations

import io
import json
import logging

import pytest

from bot.infra.logs import configure_logging, redact


def test_secrets_never_reach_the_log() -> None:
    line = redact(
        "nik 3171011508850001 token 123456:AAFakeTokenForTheFakeBotApiServer000 "
        "Authorization: Bearer EAAGm0PX4ZCpsBAFakeGraphToken123"
    )
    assert "3171011508850001" not in line and "<nik>" in line
    assert "AAFakeToken" not in line and "<token>" in line
    assert "EAAGm0PX4ZCps" not in line


def test_json_lines_are_one_object_each_and_redacted() -> None:
    configure_logging("json", logging.INFO)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        logging.getLogger("antrean.test").warning("user typed %s", "3171011508850001")
        entry = json.loads(stream.getvalue().strip())
        assert entry["level"] == "warning" and entry["logger"] == "antrean.test"
        assert entry["msg"] == "user typed <nik>"
    finally:
        logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    "number",
    [
        "+6281234567890",
        "+62 812-3456-7890",
        "+62 (21) 555 1234",
        "6281234567890",  # a wa_id, as WhatsApp writes it
        "081234567890",
        "0812 3456 7890",
        "0812-3456-7890",
        "(021) 555-1234",
        "+1 555-000-1111",
        "+447700900123",
    ],
)
def test_phone_numbers_never_reach_the_log(number: str) -> None:
    line = redact(f"details: call {number}, or key {{u:whatsapp:{number}}}.")
    digits = "".join(c for c in number if c.isdigit())
    assert digits[-6:] not in line and line.count("<phone>") == 2, line


@pytest.mark.parametrize(
    "line",
    [
        "queue A-001 at 08:00 on 2030-03-04 (08:00-09:00)",
        "update u700001 wamid.HBgLNjI4MTIzNDU2Nzg5FQIAEhgU00000001 booking 7KQ2M9",
        "ts 1893456000 ms 1893456000000 chat telegram:5550001 user 6b2f0a91c3de",
        "HTTP 400, code 131047: Re-engagement message; port 62123, 10.0.0.1",
        "POST /v21.0/1234567890/messages retry after 0.5s",
    ],
)
def test_queue_numbers_dates_times_and_ids_are_left_alone(line: str) -> None:
    assert redact(line) == line
