from __future__ import annotations

from typing import get_args

import pytest

from bot.booking.app import LOCALE_DIR
from bot.core.i18n import LOCALES, Catalog, placeholders
from bot.infra.settings import Settings


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    catalog = Catalog.load(LOCALE_DIR)
    ids, ens = catalog.messages["id"], catalog.messages["en"]
    assert set(ids) == set(ens)
    for key in ids:
        assert placeholders(ids[key]) == placeholders(ens[key]), key


def test_locale_resolution_and_fallback() -> None:
    catalog = Catalog.load(LOCALE_DIR)
    assert catalog.resolve_locale(None, "en-US") == "en"
    assert catalog.resolve_locale("fr", None) == "id"
    assert catalog.t("en", "menu.book") == "Book a queue number"
    with pytest.raises(KeyError):
        catalog.t("en", "no.such.key")


def test_the_locale_list_is_the_catalogs_and_the_settings() -> None:
    # bot/infra cannot import the core, so Settings spells the type of default_locale itself.
    assert sorted(Catalog.load(LOCALE_DIR).messages) == sorted(LOCALES)
    assert get_args(Settings.model_fields["default_locale"].annotation) == LOCALES
