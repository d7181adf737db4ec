from __future__ import annotations

import io
import json
import logging

from bot.logs import configure_logging, redact


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
