"""The booking desk: what happens to a booking, each in one place.

Booking, cancelling, moving, checking in, closing a day and marking a day's no-shows each change
the seat book (one script in the office's slot), keep the NIK registry in step (a script in the
NIK's slot: see :class:`bot.booking.counter.NikRegistry` for why it is two-phase), report the
booking event and write the audit entry; the seat scripts put the booking's reminders on the
office's due list (bot/booking/reminders.py). Conversations and jobs ask the user what to
do, call the desk, and turn its errors (:mod:`bot.booking.errors`) into messages.

Where a turn sends its audit entry with its save (:meth:`Context.later
<bot.core.dialog.Context.later>`) rather than as a round trip of its own, the desk takes that
``later`` and hands it the entry (a :class:`~bot.core.writes.Write`); without one (a job, a
script) the entry is written at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date

from bot.booking.audit import Audit, applicant
from bot.booking.calls import NO_SHOW, RECALL, SERVED, CallRefused, Calls, Visit
from bot.booking.counter import AccountClaims, ClaimRefused, Counter, NikRegistry, claim_together
from bot.booking.errors import AccountLimit, NikBlocked, NikTaken
from bot.booking.events import BookingEvents, NoEvents
from bot.booking.jobs import BookingJobs
from bot.booking.office import Office, Service, Window
from bot.booking.reminders import due_reminders
from bot.booking.seats import Booking, SeatBook, number_plan
from bot.booking.survey import Surveys
from bot.core.clock import Clock, ms
from bot.core.writes import Write
from bot.errors import StorageError
from bot.infra.settings import Settings

log = logging.getLogger(__name__)

# Where an audit entry goes: the turn's save (``ctx.later``).
Later = Callable[[Write], None]


class BookingDesk:
    """Books, cancels, moves and checks in bookings of one office, closes its days and marks
    their no-shows. Built once per process (:meth:`bot.booking.app.App.build`)."""

    def __init__(
        self,
        *,
        office: Office,
        settings: Settings,
        seats: SeatBook,
        counter: Counter,
        niks: NikRegistry,
        audit: Audit,
        clock: Clock,
        events: BookingEvents | None = None,
        calls: Calls | None = None,
        accounts: AccountClaims | None = None,
    ) -> None:
        self.office = office
        # The per-account cap across a network's offices; None in a network of one, where the
        # seat book's count per office is the network's.
        self.accounts = accounts
        # The day at the counter: the roster and calling applicants (bot/booking/calls.py).
        self.calls = calls or Calls(seats.redis, office.id, clock)
        # The satisfaction survey after "served" (bot/booking/survey.py).
        self.surveys = Surveys(seats.redis, office.id, clock)
        self.settings = settings
        self.seats = seats
        self.counter = counter
        self.niks = niks
        self.audit = audit
        self.clock = clock
        # Whether bookings get reminders (on the office's due list, which workers send from).
        # Off for one-shot tools that make sample bookings (`antrean demo-bookings`).
        self.reminders = True
        # Replaceable after start-up (the process wires its reminder scheduling in).
        self.events: BookingEvents = events or NoEvents()
        # Where calls to a counter ask for their chat notices (the process's job queue; None:
        # nobody is told, as in a process without workers).
        self.jobs: BookingJobs | None = None

    async def book(
        self,
        *,
        hold_id: str,
        day: date,
        service: Service,
        window: Window,
        account: str,
        nik_hash: str,
        nik_last4: str,
        name: str,
        locale: str,
        later: Later | None = None,
        by: str | None = None,
    ) -> Booking:
        """Turn the account's hold into a booking.

        Claims the NIK across offices first: raises :class:`NikBlocked` when it is blocked for
        no-shows, :class:`NikTaken` when another live booking holds it (``yours`` when that is a
        booking of ``account`` at this office). Both are checked in the claim's one round trip,
        so the step where the NIK is typed needs no Redis. Gives the claim back when the seat
        book refuses (its :class:`SeatError` is raised as it came). The hold stays: the caller
        decides whether to give it back. ``by`` names who booked for the applicant (in the
        audit entry), if not themselves.
        """
        refused, full = await self._claim(nik_hash, account, hold_id, day)
        if refused is None and full is not None:
            # The account's cap is reached at other offices (or at this one, under way).
            await self._release(nik_hash, None, hold_id)
            await self._log(
                later, applicant(account), "book", "refused", reason="account_limit", by=by
            )
            raise AccountLimit()
        if refused is not None:
            if full is None:
                await self._release(None, account, hold_id)
            if refused.blocked_until is not None:
                # Repeated no-shows are how booked numbers get resold: the seat went unused.
                await self._log(
                    later, applicant(account), "book", "refused", reason="strikes", by=by
                )
                raise NikBlocked(refused.blocked_until)
            holder = refused.holder
            yours = (
                holder is not None
                and holder[0] == self.office.id
                and refused.holder_account == account
            )
            if not yours:
                await self._log(
                    later, applicant(account), "book", "refused", reason="nik_elsewhere", by=by
                )
            raise NikTaken(yours=yours)
        try:
            booking = await self.seats.confirm(
                hold_id=hold_id,
                day=day,
                service=service.id,
                window=window.id,
                default_capacity=window.capacity(service.id),
                prefix=service.prefix,
                account=account,
                max_active=self.office.booking.max_active_per_account,
                nik_hash=nik_hash,
                nik_last4=nik_last4,
                name=name,
                locale=locale,
                reminders=self._reminders(day, window.id),
                windows=number_plan(self.office.windows(day), service.id),
            )
        except BaseException:
            await self._release(nik_hash, account, hold_id)
            raise
        await self._log(
            later,
            applicant(booking.account),
            "booked",
            "ok",
            booking=booking.id,
            day=day.isoformat(),
            by=by,
        )
        await self.events.booked(booking)
        return booking

    async def _claim(
        self, nik_hash: str, account: str, hold_id: str, day: date
    ) -> tuple[ClaimRefused | None, list[tuple[str, str]] | None]:
        """Claim the NIK and, in a network, a place under the account's cap: (why the NIK was
        refused or None, the claims filling the account's cap or None). In a network both
        first claims go in one pipeline (one round trip; different slots)."""
        office_id = self.office.id
        if self.accounts is None:
            return await self.niks.try_claim(nik_hash, office_id, hold_id, day), None
        now = ms(self.clock.now())
        cap = self.office.booking.max_active_per_account
        nik_reply, account_reply = await claim_together(
            self.seats.redis,
            [
                self.niks.claim_call(nik_hash, office_id, hold_id, day, now),
                self.accounts.claim_call(account, office_id, hold_id, day, cap, now),
            ],
        )
        refused = await self.niks.try_claim(
            nik_hash, office_id, hold_id, day, first=nik_reply, now=now
        )
        full = await self.accounts.try_claim(
            account, office_id, hold_id, day, cap, first=account_reply, now=now
        )
        return refused, full

    async def _release(self, nik_hash: str | None, account: str | None, booking_id: str) -> None:
        """Give back the NIK's claim and the account's place under the cap (either may be None:
        not to give back), at once."""
        office_id = self.office.id
        work = []
        if nik_hash is not None:
            work.append(self.niks.release(nik_hash, office_id, booking_id))
        if account is not None and self.accounts is not None:
            work.append(self.accounts.release(account, office_id, booking_id))
        await asyncio.gather(*work)

    async def _released(self, booking: Booking) -> None:
        """A booking stopped being active: its NIK and its account's place are free again."""
        work = [self.niks.release(booking.nik_hash, booking.office, booking.id)]
        if self.accounts is not None:
            work.append(self.accounts.release(booking.account, booking.office, booking.id))
        await asyncio.gather(*work)

    async def cancel(self, booking_id: str, *, account: str, later: Later | None = None) -> Booking:
        """The applicant ``account`` cancels their booking; raises :class:`BookingNotFound` when
        it is not an active booking of theirs. The NIK may book again (at any office)."""
        cancelled = await self.seats.cancel(booking_id, account=account)
        await self.events.cancelled(cancelled)
        # The registry would also expire the claim, but the person may want to book now.
        await self._released(cancelled)
        await self._log(later, applicant(account), "cancelled", "ok", booking=cancelled.id)
        return cancelled

    async def move(
        self,
        booking: Booking,
        *,
        account: str,
        day: date,
        window: Window,
        later: Later | None = None,
    ) -> Booking:
        """Reschedule ``account``'s ``booking`` (as last read) to ``window`` of ``day``, once per
        booking. Raises :class:`BookingNotFound`, :class:`AlreadyRescheduled`,
        :class:`DayClosed` or :class:`SoldOut`; a refusal changes nothing."""
        moved = await self.seats.reschedule(
            booking.id,
            account=account,
            day=day,
            window=window.id,
            default_capacity=window.capacity(booking.service),
            reminders=self._reminders(day, window.id),
            windows=number_plan(self.office.windows(day), booking.service),
        )
        await self.events.moved(moved)
        await self._log(
            later,
            applicant(account),
            "rescheduled",
            "ok",
            booking=moved.id,
            day=moved.day.isoformat(),
        )
        return moved

    async def check_in(self, booking_id: str, *, staff: str) -> Booking:
        """Staff member ``staff`` checks the applicant in (once, on the booking's own day);
        raises :class:`CheckInRefused`. The NIK is free again."""
        done = await self.counter.check_in(booking_id, staff=staff)
        entry = self.audit.entry
        # Two slots (the NIK's, the staff log's), two connections at once: one round trip's wait.
        await asyncio.gather(
            self._released(done),
            self.audit.record_all(
                entry(staff, "checkin", "ok", booking=done.id, number=done.queue_number),
                entry(applicant(done.account), "checked_in", "ok", booking=done.id, by=staff),
            ),
        )
        return done

    def today(self) -> date:
        return self.office.local_today(self.clock.now())

    async def roster(self, day: date | None = None) -> list[Visit]:
        """The bookings of ``day`` (the office's today), every status, in call order."""
        return await self.calls.roster(day or self.today())

    async def call_next(self, counter: int, *, staff: str) -> Visit:
        """Call today's next checked-in applicant to ``counter`` (1-20), in number order; two
        counters calling at once never get the same one. Raises :class:`CallRefused` (busy:
        the counter has not finished its call; empty: nobody is waiting)."""
        try:
            visit = await self.calls.call_next(self.today(), counter, staff=staff)
        except CallRefused as exc:
            await self.audit.record(staff, "call", "refused", reason=exc.reason, counter=counter)
            raise
        await self._counter_log(staff, "call", visit, counter)
        await self._tell_called(visit)
        return visit

    async def recall(self, counter: int, *, staff: str, booking_id: str = "") -> Visit:
        """Call the counter's applicant again. Raises :class:`CallRefused` (none, stale)."""
        return await self._finish(counter, RECALL, staff, booking_id)

    async def served(self, counter: int, *, staff: str, booking_id: str = "") -> Visit:
        """The counter's applicant was served. Raises :class:`CallRefused` (none, stale)."""
        return await self._finish(counter, SERVED, staff, booking_id)

    async def counter_no_show(self, counter: int, *, staff: str, booking_id: str = "") -> Visit:
        """The counter's applicant did not come when called (no strike: they checked in).
        Raises :class:`CallRefused` (none, stale)."""
        return await self._finish(counter, NO_SHOW, staff, booking_id)

    async def _finish(self, counter: int, action: str, staff: str, booking_id: str) -> Visit:
        name = {RECALL: "recall", SERVED: "served", NO_SHOW: "counter_no_show"}[action]
        try:
            visit = await self.calls.finish(
                self.today(), counter, action, staff=staff, booking_id=booking_id
            )
        except CallRefused as exc:
            await self.audit.record(
                staff, name, "refused", reason=exc.reason, counter=counter, booking=booking_id
            )
            raise
        await self._counter_log(staff, name, visit, counter)
        if action == RECALL:
            await self._tell_called(visit)
        elif action == SERVED:
            await self._tell_served(visit)
        return visit

    async def _tell_called(self, visit: Visit) -> None:
        """Ask for the chat notices of a call (the applicant called, those now few numbers
        away): a job, paced like every send, never sent from here. The call stands if the
        queue is unreachable (the display still shows it)."""
        if self.jobs is None:
            return
        try:
            await self.jobs.tell_called(self.office.id, self.today(), visit.id, visit.calls)
        except StorageError as exc:
            log.warning("call notices of %s not queued: %s", visit.queue_number, exc)

    async def _tell_served(self, visit: Visit) -> None:
        """Ask for the thank-you and survey invitation to the applicant served (a job, like the
        call notices); being served stands if the queue is unreachable."""
        if self.jobs is None:
            return
        try:
            await self.jobs.tell_served(self.office.id, self.today(), visit.id)
        except StorageError as exc:
            log.warning("survey invitation of %s not queued: %s", visit.queue_number, exc)

    async def _counter_log(self, staff: str, action: str, visit: Visit, counter: int) -> None:
        await self.audit.record(
            staff, action, "ok", booking=visit.id, number=visit.queue_number, counter=counter
        )

    async def close_day(self, day: date, reason: str, *, by: str) -> int:
        """Close ``day`` to new bookings and cancel its active bookings; the number cancelled.

        Closing first means no booking can slip in while the existing ones are cancelled (each
        cancellation is one script over the booking and its day's counts). Running it again
        cancels what is left and changes nothing else, so a half-done close is finished by
        repeating it. Telling the applicants is the caller's (a job).
        """
        await self.counter.close_day(day, reason, by)
        count = 0
        async for booking_id, fields in self.counter.bookings_of(day):
            if fields.get("status") != "active":
                continue
            booking = await self.counter.cancel_for_closure(booking_id, day, reason)
            if booking is None:
                continue
            count += 1
            await self._released(booking)
            await self.events.cancelled(booking)
            await self.audit.record(
                applicant(booking.account),
                "cancelled",
                "ok",
                booking=booking.id,
                day=booking.day.isoformat(),
                by=by,
                why="day_closed",
            )
        await self.audit.record(
            by, "close", "ok", day=day.isoformat(), reason=reason, cancelled=count
        )
        return count

    async def mark_no_shows(self, day: date) -> dict[str, int]:
        """Mark ``day``'s bookings never checked in as no-shows and strike their NIKs (enough
        strikes block a NIK); a tally of outcomes (marked, no_show, skip).

        Idempotent: a second run finds nothing new to mark and records no new strike (strikes
        are keyed by booking). One run at a time is the caller's to ensure.
        """
        settings = self.settings
        tally: dict[str, int] = {}
        async for booking_id, fields in self.counter.bookings_of(day):
            if fields.get("status") not in ("active", "no_show"):
                continue
            outcome, nik_hash = await self.counter.mark_no_show(booking_id, day)
            tally[outcome] = tally.get(outcome, 0) + 1
            if outcome == "skip":
                continue
            # Recorded again for an earlier no_show too: a run that died between the two
            # scripts still ends with the strike, and a repeat is a no-op.
            visit = self.office.window_start(day, fields["window"])
            await self.niks.strike(
                nik_hash,
                f"{self.office.id}|{booking_id}",
                visit,
                threshold=settings.noshow_strikes,
                window_days=settings.noshow_window_days,
                block_days=settings.noshow_block_days,
            )
            await self._release(nik_hash, fields.get("account"), booking_id)
            if outcome == "marked":
                await self.audit.record(
                    applicant(fields["account"]), "no_show", "ok", booking=booking_id, day=day
                )
        return tally

    def _reminders(self, day: date, window_id: str) -> list[tuple[int, int]]:
        if not self.reminders:
            return []
        return due_reminders(self.office, day, window_id, ms(self.clock.now()))

    async def _log(
        self, later: Later | None, actor: str, action: str, result: str, **details: object
    ) -> None:
        """An audit entry: with the turn's save when there is a ``later``, else now."""
        if later is None:
            await self.audit.record(actor, action, result, **details)
        else:
            later(self.audit.entry(actor, action, result, **details))
