"""Message catalogs: one TOML file per language in a bot's locale directory (the booking bot's
is ``bot/booking/locales/``).

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


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


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
    def load(cls, directory: Path, default: str = "id") -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            path = directory / f"{locale}.toml"
            try:
                messages[locale] = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"message catalog {path}: {exc}") from exc
        return cls(messages, default)

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
