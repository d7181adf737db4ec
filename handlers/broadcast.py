"""``/broadcast AUDIENCE`` (admin): the text in each language, a preview with the audience size,
and only an explicit confirmation sends it. Workers fan it out; the tally comes back to the sender.
"""

from __future__ import annotations

from bot.booking.app import Context
from bot.booking.audit import Audit
from bot.booking.jobs import EmptyAudience
from bot.core.dialog import MENU, Prompt, Reply, Steps
from bot.core.messages import Option
from bot.errors import ConfigError, InvalidInput
from handlers.staff import _allowed, _here, _refuse, yes_or_no

SAME = "-"


async def broadcast(ctx: Context, args: str) -> str | None:
    if not await _allowed(ctx, "broadcast", args, "admin"):
        return _here(ctx)
    from workers.broadcasts import find_audience, parse_audience

    audience = args.strip()
    if not audience:
        return await _refuse(ctx, "broadcast", args, "usage_broadcast")
    try:
        parse_audience(audience)
    except (ConfigError, ValueError):
        return await _refuse(ctx, "broadcast", args, "usage_broadcast")
    size = len(await find_audience(ctx.deps, audience))
    if size == 0:
        return await _refuse(ctx, "broadcast", args, "broadcast_empty", audience=audience)
    ctx.data.update(bc_audience=audience, bc_size=size)
    return "staff.broadcast_id"


class TextId:
    name = "staff.broadcast_id"

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("staff.broadcast_text_id", size=ctx.data.get("bc_size", 0)), free_text=True
        )

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["bc_id"] = reply.text
        return "staff.broadcast_en"


class TextEn:
    name = "staff.broadcast_en"

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("staff.broadcast_text_en", same=SAME), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["bc_en"] = ctx.data.get("bc_id", "") if reply.text == SAME else reply.text
        return "staff.broadcast_confirm"


class Confirm:
    name = "staff.broadcast_confirm"

    async def ask(self, ctx: Context) -> Prompt:
        text = ctx.t(
            "staff.broadcast_preview",
            audience=ctx.data.get("bc_audience", ""),
            size=ctx.data.get("bc_size", 0),
            text_id=ctx.data.get("bc_id", ""),
            text_en=ctx.data.get("bc_en", ""),
        )
        options = [Option("send", ctx.t("staff.broadcast_send")), Option("no", ctx.t("common.no"))]
        # Free text so that a typed "ya" or "yes" is understood whatever the buttons say.
        return Prompt(text, options, free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        choice = reply.option or yes_or_no(reply.text)
        if choice not in ("send", "yes", "no"):
            raise InvalidInput("staff.confirm_unclear")
        audience = ctx.data.get("bc_audience", "")
        texts = {"id": ctx.data.get("bc_id", ""), "en": ctx.data.get("bc_en", "")}
        for key in ("bc_audience", "bc_size", "bc_id", "bc_en"):
            ctx.data.pop(key, None)
        audit = Audit.of(ctx.deps)
        if choice == "no":
            # The text is not logged: it may name people, and the log is kept for months.
            await audit.record(ctx.identity, "broadcast", "abandoned", audience=audience)
            ctx.say(ctx.t("cancelled"))
            return MENU
        jobs = ctx.deps.jobs
        if jobs is None:
            await audit.record(ctx.identity, "broadcast", "refused", reason="no_queue")
            ctx.say(ctx.t("staff.broadcast_no_queue"))
            return MENU
        try:
            broadcast_id = await jobs.broadcast(
                ctx.deps, audience=audience, texts=texts, starter=ctx.identity
            )
        except EmptyAudience:
            # Everyone in it cancelled (or was checked in) since the preview.
            await audit.record(ctx.identity, "broadcast", "refused", reason="empty")
            ctx.say(ctx.t("staff.broadcast_empty", audience=audience))
            return MENU
        await audit.record(
            ctx.identity, "broadcast", "started", audience=audience, broadcast=broadcast_id
        )
        ctx.say(ctx.t("staff.broadcast_started", id=broadcast_id))
        return MENU


def register(steps: Steps) -> None:
    steps.command("broadcast", broadcast)
    for step in (TextId(), TextEn(), Confirm()):
        steps.add(step)
