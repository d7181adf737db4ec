"""Message catalogs: one TOML file per language (``en.toml``) in a bot's locale directory (the
booking bot's is ``bot/booking/locales/``), over the framework's own messages
(``bot/core/locales/``: the generic error, "too many messages", ...), which a bot may reword.

Keys are dotted (``book.day``); values are ``str.format`` templates with named parameters.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from bot.errors import ConfigError

# The languages every catalog has, the first the fallback: the one list of them. Settings
# (bot/infra, below the core) spells its own ``default_locale`` type; a test keeps it equal.
Locale = Literal["id", "en"]
LOCALES: tuple[Locale, ...] = get_args(Locale)
# The framework's own messages, which every bot's catalog overlays.
CORE_LOCALES = Path(__file__).parent / "locales"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


def _read(directory: Path) -> dict[str, dict[str, str]]:
    """The catalogs of one directory, by locale (a file's name without ``.toml``)."""
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise ConfigError(f"message catalog {directory}: no <locale>.toml file")
    messages: dict[str, dict[str, str]] = {}
    for path in paths:
        try:
            messages[path.stem] = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"message catalog {path}: {exc}") from exc
    return messages


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]], default: str = "id") -> None:
        if default not in messages:
            raise ValueError(f"default locale {default!r} has no catalog")
        self.messages = messages
        self.default = default

    @classmethod
    @cache
    def load(cls, *directories: Path, default: str = "id") -> Catalog:
        """The catalogs of ``directories`` (one ``<locale>.toml`` each), each overlaying the
        ones before it, over the framework's own messages. The locales are those the
        directories have."""
        tables: dict[str, dict[str, Any]] = {}
        for directory in directories:
            for locale, table in _read(directory).items():
                tables.setdefault(locale, {}).update(table)
        return cls.of(tables, default)

    @classmethod
    def of(cls, messages: Mapping[str, Mapping[str, Any]], default: str = "id") -> Catalog:
        """A bot's catalog from its messages per locale (nested tables or dotted keys, as in a
        TOML file), over the framework's own messages in the same locales."""
        core = _read(CORE_LOCALES)
        return cls(
            {
                locale: {**core.get(locale, core["en"]), **_flatten(table)}
                for locale, table in messages.items()
            },
            default,
        )

    def resolve_locale(self, *candidates: str | None) -> str:
        """The first candidate we have a catalog for (``en-US`` counts as ``en``)."""
        for candidate in candidates:
            if candidate:
                short = candidate.split("-")[0].split("_")[0].lower()
                if short in self.messages:
                    return short
        return self.default

    def t(self, locale: str, key: str, **params: Any) -> str:
        table = self.messages.get(locale) or self.messages[self.default]
        template = table.get(key) or self.messages[self.default].get(key)
        if template is None:
            raise KeyError(f"no message {key!r} in the {locale!r} catalog")
        return template.format(**params) if params else template

    def format_day(self, locale: str, day: date) -> str:
        """``Sen, 4 Mar 2030`` / ``Mon 4 Mar 2030``."""
        weekdays = self.t(locale, "date.weekdays").split(",")
        months = self.t(locale, "date.months").split(",")
        return self.t(
            locale,
            "date.format",
            weekday=weekdays[day.weekday()],
            day=day.day,
            month=months[day.month - 1],
            year=day.year,
        )
