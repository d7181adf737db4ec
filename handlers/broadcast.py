"""``/broadcast AUDIENCE`` (admin): the text in each language, a preview with the audience size,
and only an explicit confirmation sends it. Workers fan it out; the tally comes back to the sender.
"""

from __future__ import annotations

from bot.booking.app import Context
from bot.booking.jobs import EmptyAudience
from bot.core.dialog import MENU, Prompt, Reply, Steps
from bot.core.messages import Option
from bot.errors import ConfigError, InvalidInput
from handlers.common import is_network
from handlers.staff import allowed, here, refuse, staff_local, yes_or_no

SAME = "-"


async def broadcast(ctx: Context, args: str) -> str | None:
    if not await allowed(ctx, "broadcast", args, "admin"):
        return here(ctx)
    from workers.broadcasts import find_audience, parse_audience, per_office

    audience = args.strip()
    if not audience:
        return await refuse(ctx, "broadcast", args, "usage_broadcast")
    try:
        parse_audience(audience)
    except (ConfigError, ValueError):
        return await refuse(ctx, "broadcast", args, "usage_broadcast")
    if is_network(ctx):
        scoped = await _office_scoped(ctx, args)
        if scoped is None:
            return here(ctx)
        audience = scoped
    try:
        found = await find_audience(ctx.deps, audience)
    except ConfigError:
        return await refuse(ctx, "broadcast", args, "usage_broadcast")
    if not found:
        return await refuse(ctx, "broadcast", args, "broadcast_empty", audience=audience)
    ctx.data.update(bc_audience=audience, bc_size=len(found), bc_offices=per_office(found))
    return "staff.broadcast_id"


async def _office_scoped(ctx: Context, args: str) -> str | None:
    """The audience with its office settled, in a network: staff of one office broadcast to
    that office's applicants only; an admin of every office names one office or ``@*``. None
    when refused (the user was told why)."""
    from workers.broadcasts import EVERY_OFFICE, split_office

    deps = ctx.deps
    scope = deps.settings.staff_scope(ctx.identity) or EVERY_OFFICE
    named, rest = split_office(args)
    if scope != EVERY_OFFICE:
        if named not in (None, scope):
            office = deps.offices[scope].office.name
            await refuse(ctx, "broadcast", args, "other_office", office=office)
            return None
        return f"@{scope} {rest}"
    if named is None:
        await refuse(ctx, "broadcast", args, "broadcast_which_office")
        return None
    if named != EVERY_OFFICE and named not in deps.offices:
        await refuse(ctx, "broadcast", args, "unknown_office", value=named)
        return None
    return f"@{named} {rest}"


def _per_office_line(ctx: Context) -> str:
    """ "Per office: Kantor Imigrasi Jakarta Selatan 3, ..." for the preview, in a network."""
    counts = ctx.data.get("bc_offices") or {}
    if not is_network(ctx) or not isinstance(counts, dict) or not counts:
        return ""
    names = {o: s.office.name for o, s in ctx.deps.offices.items()}
    shown = ", ".join(f"{names.get(o, o)} {n}" for o, n in sorted(counts.items()))
    return ctx.t("staff.broadcast_per_office", counts=shown) + "\n"


class TextId:
    name = "staff.broadcast_id"
    goes_to = ("staff.broadcast_en",)

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("staff.broadcast_text_id", size=ctx.data.get("bc_size", 0)), free_text=True
        )

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["bc_id"] = reply.text
        return "staff.broadcast_en"


class TextEn:
    name = "staff.broadcast_en"
    goes_to = ("staff.broadcast_confirm",)

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("staff.broadcast_text_en", same=SAME), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["bc_en"] = ctx.data.get("bc_id", "") if reply.text == SAME else reply.text
        return "staff.broadcast_confirm"


class Confirm:
    name = "staff.broadcast_confirm"
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        text = _per_office_line(ctx) + ctx.t(
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
        for key in ("bc_audience", "bc_size", "bc_offices", "bc_id", "bc_en"):
            ctx.data.pop(key, None)
        audit = staff_local(ctx).audit
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
    steps.command("broadcast", broadcast, goes_to=(TextId.name,))
    for step in (TextId(), TextEn(), Confirm()):
        steps.add(step)
