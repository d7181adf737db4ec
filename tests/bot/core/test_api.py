"""The framework's public names: what a bot of one's own imports from ``bot.core``. A change
here is a change to the framework's API (and to README's "Writing your own bot")."""

from __future__ import annotations

import bot.core


def test_the_public_api_is_pinned() -> None:
    assert bot.core.__all__ == [
        "ANYWHERE",
        "CANCEL",
        "HELP",
        "LANGUAGE",
        "MENU",
        "RESUME",
        "TO_MENU",
        "WORDS",
        "Catalog",
        "Channel",
        "Choices",
        "Clock",
        "Context",
        "Deps",
        "Engine",
        "Goto",
        "Image",
        "Inbound",
        "InvalidInput",
        "Jobs",
        "ManualClock",
        "Option",
        "Outbound",
        "Outcome",
        "PacedChannel",
        "Prompt",
        "Reply",
        "Services",
        "SessionStore",
        "Step",
        "Steps",
        "SystemClock",
        "Text",
        "UnknownStep",
        "Write",
        "chat",
    ]
    for name in bot.core.__all__:
        assert getattr(bot.core, name) is not None, name


def test_the_framework_has_its_own_messages_which_a_bot_rewords() -> None:
    from bot.core.i18n import CORE_LOCALES, Catalog, placeholders

    core = Catalog.load(CORE_LOCALES)
    ids, ens = core.messages["id"], core.messages["en"]
    assert set(ids) == set(ens)
    for key in ids:
        assert placeholders(ids[key]) == placeholders(ens[key]), key
    bot_catalog = Catalog.of({"en": {"error": {"internal": "Oops."}, "hi": "Hi"}}, default="en")
    assert bot_catalog.t("en", "error.internal") == "Oops."
    assert bot_catalog.t("en", "input.empty") == ens["input.empty"]
    assert bot_catalog.resolve_locale("id") == "en"  # the bot speaks only English
