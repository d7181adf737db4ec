"""The bot's slash commands: the menu Telegram shows, and the words of the dialog they stand for."""

from __future__ import annotations

COMMANDS = ("start", "menu", "help", "language")
# The engine understands these words in both languages; the slash commands map onto them.
COMMAND_WORDS = {"help": "help", "language": "language", "start": "start", "menu": "menu"}
COMMAND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "id": {
        "start": "Mulai dari awal",
        "menu": "Menu utama",
        "help": "Bantuan",
        "language": "Ganti bahasa",
    },
    "en": {
        "start": "Start over",
        "menu": "Main menu",
        "help": "Help",
        "language": "Change language",
    },
}


def command_text(text: str) -> str:
    """``/start@AntreanBot payload`` → ``start``: commands are words the engine already knows."""
    if not text.startswith("/"):
        return text
    word = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text[1:].strip() else ""
    return COMMAND_WORDS.get(word, text)
