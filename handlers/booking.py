"""Book a queue number: service -> day -> window -> NIK -> name -> summary -> confirm."""

from __future__ import annotations

from datetime import date, timedelta

from bot.booking.app import Context
from bot.booking.codes import qr_filename, qr_png
from bot.booking.errors import (
    AccountLimit,
    DayClosed,
    NikBlocked,
    NikHasBooking,
    NikTaken,
    SeatError,
    SoldOut,
)
from bot.booking.network import zone_label
from bot.booking.nik import last4, mask, validate_nik
from bot.booking.office import Service, Window
from bot.booking.seats import Booking
from bot.core.clock import parse_day
from bot.core.dialog import MENU, Goto, Prompt, Reply
from bot.core.messages import Image, Location, Option
from bot.core.text import validate_name
from bot.errors import InvalidInput
from handlers.common import (
    LAST_OFFICE,
    clock_time,
    day_options,
    format_day,
    is_bookable,
    is_network,
    local,
    window_label,
    window_options,
)

# Option ids of days offered for the pre-queue (bot/booking/release.py) start with this.
PREQUEUE = "pre:"
# In the user's memo (bot/core/sessions.py, Session.memo): the account was last seen with an
# active booking. Only a hint for skipping a read: set when a booking is confirmed or the cap
# refuses one, cleared when none is found or the applicant cancels in chat. Staff and the day-end
# job cancel without clearing it, so "booked" is checked before anyone is refused; and nothing
# is refused for its absence: the hold enforces the cap (AccountLimit) either way.
BOOKED = "booked"
# In the memo, in a network: the offices the account booked at, newest first (at most
# MAX_BOOKED_AT); "my booking" reads the account's bookings at these offices.
BOOKED_AT = "booked_at"
MAX_BOOKED_AT = 4


def note_booked(ctx: Context, booked: bool) -> None:
    """Keep the :data:`BOOKED` hint in the memo (saved with the turn, no round trip)."""
    if booked:
        ctx.memo[BOOKED] = 1
    else:
        ctx.memo.pop(BOOKED, None)


def note_office(ctx: Context, office_id: str) -> None:
    """Remember in the memo that the account booked at ``office_id`` (newest first, a few):
    "my booking" reads these offices' bookings only."""
    kept = [o for o in ctx.memo.get(BOOKED_AT, []) if o != office_id]
    ctx.memo[BOOKED_AT] = [office_id, *kept][:MAX_BOOKED_AT]
    ctx.memo[LAST_OFFICE] = office_id


async def active_bookings(ctx: Context) -> list[tuple[str, Booking]]:
    """The account's active bookings, with their office's id. In a network, the offices the
    account's claims name (bot/booking/counter.py, AccountClaims: one round trip) and the ones
    the memo says it booked at are read (one round trip each, usually one): never a scan of the
    network. The account index is per office."""
    deps = ctx.deps
    if not is_network(ctx):
        return [(deps.office.id, b) for b in await deps.seats.active_for_account(ctx.identity)]
    booked_at = [o for o in ctx.memo.get(BOOKED_AT, []) if o in deps.offices]
    last = ctx.memo.get(LAST_OFFICE)
    if not booked_at and isinstance(last, str) and last in deps.offices:
        booked_at = [last]
    if deps.account_claims is not None:
        # Not only the memo: a booking made on another device, by staff for the applicant, or
        # after the memo was lost is named by its claim.
        claimed = [o for o, _ in await deps.account_claims.holders(ctx.identity)]
        booked_at += [o for o in dict.fromkeys(claimed) if o in deps.offices and o not in booked_at]
    found: list[tuple[str, Booking]] = []
    still: list[str] = []
    for office_id in booked_at:
        bookings = await deps.at(office_id).seats.active_for_account(ctx.identity)
        found += [(office_id, b) for b in bookings]
        if bookings:
            still.append(office_id)
    # Offices where nothing is active any more are not read next time.
    if still:
        ctx.memo[BOOKED_AT] = still
    else:
        ctx.memo.pop(BOOKED_AT, None)
    return found


def _service(ctx: Context) -> Service:
    service = local(ctx).office.service(ctx.data.get("svc", ""))
    if service is None:
        raise Goto(MENU)
    return service


def _day(ctx: Context) -> date:
    day = parse_day(ctx.data.get("day"))
    if day is None:
        raise Goto("book.day")
    return day


async def release_hold(ctx: Context) -> None:
    """Give back a seat the user held but did not confirm (they went back to the menu)."""
    hold, svc, day = ctx.data.get("hold"), ctx.data.get("svc"), parse_day(ctx.data.get("day"))
    if hold and svc and day and ctx.data.get("win"):
        await local(ctx).seats.release(hold_id=hold, day=day, service=svc)


class ChooseService:
    name = "book.service"
    goes_to = ("book.day",)

    async def ask(self, ctx: Context) -> Prompt:
        if ctx.memo.get(BOOKED):
            # Seen with a booking: say now if the cap is reached rather than after the window.
            # Everyone else skips the read; the hold refuses them there with the same message.
            # The cap is the network's (the confirmation checks the account's claims): in a
            # network, the bookings at every office the claims and the memo name are counted
            # (one round trip more than a network of one, which reads its one office).
            limit = local(ctx).office.booking.max_active_per_account
            if is_network(ctx):
                active = len(await active_bookings(ctx))
            else:
                active = len(await local(ctx).seats.active_for_account(ctx.identity))
            note_booked(ctx, active > 0)
            if active >= limit:
                ctx.say(ctx.t("book.limit", count=active))
                raise Goto(MENU)
        services = local(ctx).office.services
        return Prompt(ctx.t("book.service"), [Option(s.id, s.name(ctx.locale)) for s in services])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["svc"] = reply.option
        return "book.day"


class ChooseDay:
    name = "book.day"
    goes_to = ("book.wait", "book.window")

    async def ask(self, ctx: Context) -> Prompt:
        service = _service(ctx)
        options = await day_options(ctx, service.id)
        prequeued = local(ctx).release.upcoming(ctx.now())
        if prequeued is not None:
            # The day about to open comes first: joining its pre-queue is the fair way in.
            opens = local(ctx).office.release_at(prequeued)
            title = format_day(ctx, prequeued)
            about = ctx.t("release.option", time=clock_time(ctx, opens))
            options.insert(0, Option(PREQUEUE + prequeued.isoformat(), title, about))
        if not options:
            upcoming = local(ctx).office.next_release(ctx.now())
            if upcoming is None:
                ctx.say(ctx.t("book.no_days"))
            else:
                there = upcoming.astimezone(local(ctx).office.tz)
                when = f"{format_day(ctx, there.date())} {clock_time(ctx, upcoming)}"
                ctx.say(ctx.t("book.no_days_next", when=when))
            raise Goto(MENU)
        return Prompt(ctx.t("book.day", service=service.name(ctx.locale)), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        option = reply.option or ""
        fair = local(ctx).release
        if option.startswith(PREQUEUE):
            day = parse_day(option.removeprefix(PREQUEUE))
            if day is None:
                raise InvalidInput("book.day_gone")
            ctx.data["day"] = day.isoformat()
            joined = await fair.join(day, _service(ctx).id, ctx.identity)
            if joined != "open":
                opens = local(ctx).office.release_at(day)
                ctx.say(
                    ctx.t("release.joined", day=format_day(ctx, day), time=clock_time(ctx, opens))
                )
                return "book.wait"
            option = day.isoformat()  # it opened meanwhile: book it like any open day
        day = parse_day(option)
        if day is None or not is_bookable(ctx, day):
            raise InvalidInput("book.day_gone")
        # The pre-queue of a day that just opened is served before anyone picks a window.
        await fair.admit(day, _service(ctx).id)
        ctx.data["day"] = day.isoformat()
        return "book.window"


class WaitRelease:
    """In the pre-queue of a day about to open (bot/booking/release.py)."""

    name = "book.wait"
    goes_to = ("book.day", "book.nik")

    async def ask(self, ctx: Context) -> Prompt:
        day = _day(ctx)
        opens = local(ctx).office.release_at(day)
        text = ctx.t("release.wait", day=format_day(ctx, day), time=clock_time(ctx, opens))
        return Prompt(text, [Option("go", ctx.t("release.go"))])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        service, day = _service(ctx), _day(ctx)
        fair = local(ctx).release
        # Whichever comes first after the opening, this or the release job, admits the queue.
        await fair.admit(day, service.id)
        seat = await fair.status(day, service.id, ctx.identity)
        if seat.status == "waiting":
            opens = local(ctx).office.release_at(day)
            ctx.say(ctx.t("release.not_yet", day=format_day(ctx, day), time=clock_time(ctx, opens)))
            return "book.wait"
        if seat.status == "admitted":
            ctx.data.update(hold=seat.hold_id, win=seat.window)
            ctx.say(ctx.t("book.held", minutes=local(ctx).office.booking.hold_minutes))
            return "book.nik"
        if seat.status == "limit":
            note_booked(ctx, True)
            ctx.say(ctx.t("book.limit", count=local(ctx).office.booking.max_active_per_account))
            return MENU
        ctx.say(ctx.t("release.full", day=format_day(ctx, day)))
        ctx.data.pop("day", None)
        return "book.day"


class ChooseWindow:
    name = "book.window"
    goes_to = ("book.day", "book.nik")

    async def ask(self, ctx: Context) -> Prompt:
        service, day = _service(ctx), _day(ctx)
        options = await window_options(ctx, service.id, day)
        if not options:
            ctx.say(ctx.t("book.day_full"))
            raise Goto("book.day")
        shown = format_day(ctx, day)
        if is_network(ctx):
            shown += f" ({zone_label(local(ctx).office.timezone)})"
        return Prompt(ctx.t("book.window", day=shown), options)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        service, day = _service(ctx), _day(ctx)
        window = local(ctx).office.window(day, reply.option or "")
        if window is None or not is_bookable(ctx, day):
            ctx.say(ctx.t("book.day_gone"))
            return "book.day"
        rules = local(ctx).office.booking
        # Derived from this very message: if the turn is cut short (Redis outage, crash) and the
        # message is handled again, it holds the same seat rather than leaking another.
        hold_id = ctx.data.get("hold") or ctx.deps.codes.id_for(ctx.identity, ctx.message_id)
        await local(ctx).release.admit(day, service.id)
        try:
            await local(ctx).seats.hold(
                hold_id=hold_id,
                day=day,
                service=service.id,
                window=window.id,
                default_capacity=window.capacity(service.id),
                account=ctx.identity,
                max_active=rules.max_active_per_account,
                ttl_ms=rules.hold_minutes * 60_000,
            )
        except SoldOut as exc:
            raise InvalidInput("book.window_full") from exc
        except DayClosed:
            ctx.say(ctx.t("book.day_gone"))
            return "book.day"
        except AccountLimit:
            note_booked(ctx, True)
            ctx.say(ctx.t("book.limit", count=rules.max_active_per_account))
            return MENU
        ctx.data.update(hold=hold_id, win=window.id)
        ctx.say(ctx.t("book.held", minutes=rules.hold_minutes))
        return "book.nik"


class EnterNik:
    name = "book.nik"
    goes_to = ("book.name", "book.confirm")

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("book.nik"), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        nik = validate_nik(reply.text, local(ctx).office.local_today(ctx.now()))
        # The NIK itself is never kept: only its keyed hash and its last four digits. Whether it
        # is blocked or has a booking is checked when confirming, in the NIK claim's round trip
        # (BookingDesk.book); a refusal there sends the applicant back here, name kept.
        ctx.data.update(nik_h=ctx.deps.niks.hash(nik), nik4=last4(nik))
        return "book.confirm" if "name" in ctx.data else "book.name"


class EnterName:
    name = "book.name"
    goes_to = ("book.confirm",)

    async def ask(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("book.name"), free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        ctx.data["name"] = validate_name(reply.text)
        return "book.confirm"


def _cutoffs(ctx: Context, day: date, window: Window) -> str:
    """The cut-offs for changing the booking, said before it is made (a booking for tomorrow
    can no longer be rescheduled, only cancelled)."""
    rules = local(ctx).office.booking
    start = local(ctx).office.window_start(day, window.id)
    near = ctx.now() > start - timedelta(hours=rules.reschedule_cutoff_hours)
    return ctx.t(
        "book.rules_near" if near else "book.rules",
        move=rules.reschedule_cutoff_hours,
        cancel=rules.cancel_cutoff_hours,
    )


class Confirm:
    name = "book.confirm"
    goes_to = ("book.day", "book.window", "book.nik")

    async def ask(self, ctx: Context) -> Prompt:
        service, day = _service(ctx), _day(ctx)
        window = local(ctx).office.window(day, ctx.data.get("win", ""))
        if window is None or "nik_h" not in ctx.data or "name" not in ctx.data:
            raise Goto("book.window")
        text = ctx.t(
            "book.summary",
            service=service.name(ctx.locale),
            day=format_day(ctx, day),
            window=window_label(ctx, window.label),
            name=ctx.data["name"],
            nik=mask("0" * 12 + ctx.data["nik4"]),
            rules=_cutoffs(ctx, day, window),
        )
        return Prompt(text, [Option("yes", ctx.t("book.yes")), Option("no", ctx.t("book.no"))])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        if reply.option != "yes":
            await release_hold(ctx)
            ctx.data.clear()
            ctx.say(ctx.t("cancelled"))
            return MENU
        service, day = _service(ctx), _day(ctx)
        window = local(ctx).office.window(day, ctx.data.get("win", ""))
        if window is None or not is_bookable(ctx, day):
            ctx.say(ctx.t("book.day_gone"))
            return "book.day"
        outcome = await self._confirm(ctx, service, day, window)
        if isinstance(outcome, str):
            return outcome
        booking = outcome
        note_booked(ctx, True)
        code = ctx.deps.codes.code(local(ctx).office.id, booking.id, booking.nik_hash)
        docs = service.docs(ctx.locale)
        ctx.say(
            ctx.t(
                "book.done",
                number=booking.queue_number,
                service=service.name(ctx.locale),
                day=format_day(ctx, day),
                window=window_label(ctx, window.label),
                code=code,
            )
            + ("\n\n" + "\n".join(f"• {d}" for d in docs) if docs else "")
        )
        caption = ctx.t("book.qr_caption", number=booking.queue_number, code=code)
        ctx.show(Image(qr_png(code), caption=caption, filename=qr_filename(code)))
        office = local(ctx).office
        if is_network(ctx):
            # Where to go, on the map; and where "my booking" finds it (no scan of offices).
            if office.location is not None:
                where = office.location
                ctx.show(Location(where.lat, where.lon, office.name, office.address))
            note_office(ctx, office.id)
        ctx.data.clear()
        return MENU

    async def _confirm(
        self, ctx: Context, service: Service, day: date, window: Window
    ) -> Booking | str:
        """The booking, or the step to go to after telling the user why not."""
        rules = local(ctx).office.booking
        try:
            return await local(ctx).desk.book(
                hold_id=ctx.data["hold"],
                day=day,
                service=service,
                window=window,
                account=ctx.identity,
                nik_hash=ctx.data["nik_h"],
                nik_last4=ctx.data["nik4"],
                name=ctx.data["name"],
                locale=ctx.locale,
                later=ctx.later,
            )
        except NikBlocked as exc:
            until = exc.until.astimezone(local(ctx).office.tz).date()
            count = ctx.deps.settings.noshow_strikes
            ctx.say(ctx.t("scalper.blocked", count=count, until=format_day(ctx, until)))
            return await _another_nik(ctx)
        except NikTaken as exc:
            # One NIK, one booking, across every office and account.
            ctx.say(ctx.t("book.nik_yours" if exc.yours else "book.nik_elsewhere"))
            return await _another_nik(ctx)
        except NikHasBooking:
            await release_hold(ctx)
            ctx.data.clear()
            ctx.say(ctx.t("book.nik_taken"))
            return MENU
        except AccountLimit:
            note_booked(ctx, True)
            await release_hold(ctx)
            ctx.data.clear()
            ctx.say(ctx.t("book.limit", count=rules.max_active_per_account))
            return MENU
        except SoldOut:
            ctx.data.pop("win", None)
            ctx.say(ctx.t("book.sold_out_late"))
            return "book.window"
        except DayClosed:
            ctx.data.pop("win", None)
            ctx.say(ctx.t("book.day_gone"))
            return "book.day"
        except SeatError as exc:
            if exc.reason != "id_collision":
                raise
            # Another booking already has this random id: draw a new one and try again.
            await release_hold(ctx)
            ctx.data.pop("hold", None)
            ctx.data.pop("win", None)
            ctx.say(ctx.t("book.sold_out_late"))
            return "book.window"


async def _another_nik(ctx: Context) -> str:
    """Back to the NIK step after the claim refused the NIK, the name kept, so the next NIK
    typed goes straight to the summary. The held seat goes back at once: a NIK refused here is
    mostly someone else's (a scalper's second try), and the seat is someone else's to take;
    confirming again books a free seat of the window if there is one."""
    await release_hold(ctx)
    ctx.data.pop("nik_h", None)
    ctx.data.pop("nik4", None)
    return "book.nik"
