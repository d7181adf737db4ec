"""Which office, in a network of offices (a network of one never asks): by typed name, by region
(province, city, office) or by a shared location (the three nearest), the last office used offered
first. The choice is kept in the conversation's data (``handlers.common.OFFICE``) and in the memo
(``handlers.common.LAST_OFFICE``); then the conversation goes on where it was going (the service
to book, the requirements).

Every lookup is one of the network's indexes (bot/booking/network.py): nothing here walks the
offices, and nothing reads Redis.
"""

from __future__ import annotations

from bot.booking.app import Context
from bot.booking.office import Office
from bot.core.dialog import MENU, Goto, Prompt, Reply
from bot.core.messages import Option
from bot.errors import InvalidInput
from handlers.common import LAST_OFFICE, OFFICE

CHOOSE_OFFICE = "book.office"
PICK_OFFICE = "book.office_pick"
CHOOSE_REGION = "book.region"
CHOOSE_CITY = "book.city"
# Session data: where to go once the office is chosen; the offices on offer (id, km or None);
# the region being browsed.
NEXT = "office_next"
PICKS = "office_picks"
REGION = "office_region"
# Where the conversation goes once an office is chosen.
AFTER = ("book.service", "docs.service")
# Option ids: an office (o:<id>), a region (r:<name>), a city (c:<name>), browsing by region.
OFFICE_ID, REGION_ID, CITY_ID, BY_REGION = "o:", "r:", "c:", "by_region"
NEAREST = 3


def choose_office_then(ctx: Context, target: str) -> str:
    """Ask which office, then go to ``target`` (one of :data:`AFTER`)."""
    ctx.data[NEXT] = target
    ctx.data.pop(OFFICE, None)
    return CHOOSE_OFFICE


def _chosen(ctx: Context, office_id: str) -> str:
    if office_id not in ctx.deps.offices:
        raise InvalidInput("office.gone")
    ctx.data[OFFICE] = office_id
    ctx.memo[LAST_OFFICE] = office_id
    for key in (PICKS, REGION):
        ctx.data.pop(key, None)
    target = ctx.data.pop(NEXT, AFTER[0])
    return target if target in AFTER else AFTER[0]


def _offer(ctx: Context, offices: list[tuple[Office, float | None]]) -> str:
    """Offer ``offices`` to pick from (with their distance in km, if known)."""
    if len(offices) == 1:
        return _chosen(ctx, offices[0][0].id)
    ctx.data[PICKS] = [[o.id, km] for o, km in offices]
    return PICK_OFFICE


def _about(office: Office, km: float | None) -> str:
    place = ", ".join(p for p in (office.city, office.region) if p)
    if km is None:
        return place
    distance = f"{km:.1f} km"
    return f"{distance} · {place}" if place else distance


class ChooseOffice:
    name = CHOOSE_OFFICE
    goes_to = (*AFTER, PICK_OFFICE, CHOOSE_REGION)

    async def ask(self, ctx: Context) -> Prompt:
        network = ctx.deps.network
        options = []
        last = ctx.memo.get(LAST_OFFICE)
        office = network.get(last) if isinstance(last, str) else None
        if office is not None:
            options.append(Option(OFFICE_ID + office.id, office.name, ctx.t("office.last")))
        if network.regions():
            options.append(Option(BY_REGION, ctx.t("office.by_region")))
        return Prompt(ctx.t("office.prompt"), options, free_text=True, location=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        network = ctx.deps.network
        if reply.location is not None:
            nearest = network.nearest(*reply.location, n=NEAREST)
            if not nearest:
                raise InvalidInput("office.none_near")
            # Three to choose from, however near the first: the applicant knows where they go.
            ctx.data[PICKS] = [[near.office.id, round(near.km, 1)] for near in nearest]
            return PICK_OFFICE
        option = reply.option or ""
        if option.startswith(OFFICE_ID):
            return _chosen(ctx, option.removeprefix(OFFICE_ID))
        if option == BY_REGION:
            return CHOOSE_REGION
        found = network.search(reply.text)
        if found.offices:
            return _offer(ctx, [(o, None) for o in found.offices])
        if found.guesses:
            raise InvalidInput("office.did_you_mean", guesses=", ".join(found.guesses))
        raise InvalidInput("office.none_found")


class PickOffice:
    name = PICK_OFFICE
    goes_to = (*AFTER, CHOOSE_OFFICE)

    async def ask(self, ctx: Context) -> Prompt:
        network = ctx.deps.network
        options = []
        for office_id, km in ctx.data.get(PICKS) or []:
            office = network.get(office_id)
            if office is not None:
                options.append(Option(OFFICE_ID + office.id, office.name, _about(office, km)))
        if not options:
            raise Goto(CHOOSE_OFFICE)
        return Prompt(ctx.t("office.pick"), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        return _chosen(ctx, (reply.option or "").removeprefix(OFFICE_ID))


class ChooseRegion:
    name = CHOOSE_REGION
    goes_to = (CHOOSE_CITY,)

    async def ask(self, ctx: Context) -> Prompt:
        regions = ctx.deps.network.regions()
        if not regions:
            raise Goto(MENU)
        # Long lists are paged by the channels (Telegram's page row, WhatsApp's "more").
        return Prompt(ctx.t("office.region"), [Option(REGION_ID + r, r) for r in regions])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data[REGION] = (reply.option or "").removeprefix(REGION_ID)
        return CHOOSE_CITY


class ChooseCity:
    name = CHOOSE_CITY
    goes_to = (*AFTER, PICK_OFFICE, CHOOSE_REGION)

    async def ask(self, ctx: Context) -> Prompt:
        region = str(ctx.data.get(REGION, ""))
        cities = ctx.deps.network.cities(region)
        if not cities:
            raise Goto(CHOOSE_REGION)
        if len(cities) == 1:
            # Nothing to choose: straight to the city's offices.
            offices = ctx.deps.network.in_city(region, cities[0])
            raise Goto(_offer(ctx, [(o, None) for o in offices]))
        options = [Option(CITY_ID + c, c) for c in cities]
        return Prompt(ctx.t("office.city", region=region), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        region = str(ctx.data.get(REGION, ""))
        city = (reply.option or "").removeprefix(CITY_ID)
        offices = ctx.deps.network.in_city(region, city)
        if not offices:
            return CHOOSE_REGION
        return _offer(ctx, [(o, None) for o in offices])


STEPS = (ChooseOffice(), PickOffice(), ChooseRegion(), ChooseCity())
