"""Logging set-up: text for a terminal, JSON lines for production (``ANTREAN_LOG_FORMAT=json``).

Whatever the format, log lines pass through :func:`redact`: a NIK, a phone number, a bot token or
a bearer token that slipped into a message never reaches the log. Identities are logged as
pseudonyms (:func:`bot.core.engine.anon`) by the code that logs them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

# Digits of a phone number may be grouped by a space, dot, dash or bracket: "0812-3456-7890",
# "+62 (21) 555 1234". A colon or a slash ends the number, so times (08:00) and paths are never
# read as one; dates (2030-03-04) start with neither a plus, 62 nor 0.
_DIGIT = r"(?:\)\s?|\s?\(|[ .-])?\d"
# Not glued to a word, a number or a path before it (ids like u700001, wamid.HBgL..., A-001),
# nor to a word or digit after it. A colon may come before it: "whatsapp:6281234567890".
_START = r"(?<![\w+./-])"
_END = r"(?![\w])"
_SECRETS = (
    (re.compile(r"\b\d{16}\b"), "<nik>"),  # a NIK, or anything shaped like one
    (re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}\b"), "<token>"),  # a Telegram bot token
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"), "Bearer <token>"),
    # E.164 with its plus: 8 to 15 digits, any country.
    (re.compile(rf"{_START}\+\(?\d(?:{_DIGIT}){{7,14}}{_END}"), "<phone>"),
    # Indonesian numbers without a plus: 62 (the country code, as WhatsApp writes a wa_id) or a
    # trunk 0 before the area code or the 8 of a mobile number; 9 to 14 digits in all.
    (re.compile(rf"{_START}(?:62|\(?0[2-9])(?:{_DIGIT}){{7,12}}{_END}"), "<phone>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def log_to_file(path: Path) -> None:
    """Write the log to ``path`` instead of the terminal (same level, format and redaction): for
    a chat in the terminal, where log lines would land among the bot's messages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(RedactingFilter())
    if root.handlers:
        handler.setFormatter(root.handlers[0].formatter)
    root.handlers[:] = [handler]


def configure_logging(log_format: str = "text", level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO (each WhatsApp message): only its problems are news.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def anon(identity: str) -> str:
    """A short stable pseudonym for logs: identities (phone numbers) are personal data."""
    return hashlib.blake2s(identity.encode(), digest_size=6).hexdigest()
