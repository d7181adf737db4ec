"""The main menu, the language choice and the requirements list."""

from __future__ import annotations

from bot.booking.app import Context
from bot.core.dialog import ANYWHERE, MENU, RESUME, Prompt, Reply
from bot.core.i18n import LOCALES
from bot.core.messages import Option
from handlers.common import is_network, local
from handlers.offices import CHOOSE_OFFICE, choose_office_then


class Menu:
    name = MENU
    goes_to = ("book.service", "mine", "docs.service", "language", CHOOSE_OFFICE)

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("menu.prompt"),
            [
                Option("book", ctx.t("menu.book")),
                Option("mine", ctx.t("menu.mine")),
                Option("docs", ctx.t("menu.docs")),
                Option("lang", ctx.t("menu.language")),
            ],
        )

    async def answer(self, ctx: Context, reply: Reply) -> str:
        target = {
            "book": "book.service",
            "mine": "mine",
            "docs": "docs.service",
            "lang": "language",
        }.get(reply.option or "", MENU)
        if target in ("book.service", "docs.service") and is_network(ctx):
            # Booking and the requirements are per office: which one, first.
            return choose_office_then(ctx, target)
        return target


class Language:
    name = "language"
    goes_to = (ANYWHERE,)  # back where the user was (RESUME)

    async def ask(self, ctx: Context) -> Prompt:
        # Each language named in itself, whatever the user's language is now.
        names = [Option(locale, ctx.deps.catalog.t(locale, "language.name")) for locale in LOCALES]
        return Prompt(ctx.t("language.prompt"), names)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.set_locale(reply.option or ctx.locale)
        ctx.say(ctx.t("language.set"))
        # Chosen mid-conversation ("bahasa"): carry on where the user was, in the new language.
        return str(ctx.data.pop(RESUME, MENU))


class Requirements:
    name = "docs.service"
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        services = local(ctx).office.services
        return Prompt(ctx.t("docs.prompt"), [Option(s.id, s.name(ctx.locale)) for s in services])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        service = local(ctx).office.service(reply.option or "")
        if service is not None:
            docs = service.docs(ctx.locale)
            name = service.name(ctx.locale)
            if docs:
                items = "\n".join(f"• {doc}" for doc in docs)
                ctx.say(ctx.t("docs.list", service=name, items=items))
            else:
                ctx.say(ctx.t("docs.none", service=name))
        return MENU
