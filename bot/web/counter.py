"""The counter page under ``/staff/loket``: a counter officer's day.

Behind the staff pages' guard (:mod:`bot.web.staff`: session, CSRF on every POST, security
headers), for the roles officer and admin of this office only. The officer chooses a counter
(1-20, kept in a cookie beside the session's), sees today's bookings per window with their
state, checks applicants in by typing the booking code or scanning its QR with the device's
camera (bot/web/static/counter.js: the browser's ``BarcodeDetector`` where it has one, else the
vendored jsQR), and calls them: call next, recall, served, no-show. Each action is one call of the
booking desk (bot/booking/desk.py: one script in the office's slot, then the audit entry), and
answers with a redirect to the page (Post/Redirect/Get) carrying a notice key; only the check-in
lookup answers with a page of its own, which shows the name and the NIK's last four digits to
compare with the e-KTP before confirming.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup, escape

from bot.booking.app import App
from bot.booking.calls import MAX_COUNTER, CallRefused, Visit
from bot.booking.codes import BookingCodes
from bot.booking.errors import CheckInRefused
from bot.booking.seats import Booking
from bot.booking.staff_access import StaffSession
from bot.errors import InvalidInput
from bot.web.staff import (
    APP_KEY,
    PREFIX,
    Handler,
    message,
    render,
    scripted,
    see_other,
    staff_session,
)
from bot.web.staff import _locale as page_locale

PAGE = f"{PREFIX}/loket"
COUNTER_COOKIE = "antrean_counter"
ROLES = ("officer", "admin")
# Notices a redirect back to the page may carry (?n=...), each a web.* catalog key.
NOTICES = {
    "called": "web.called_notice",
    "recalled": "web.recalled_notice",
    "served": "web.served_notice",
    "no_show": "web.no_show_notice",
    "checked_in": "web.checkin_done",
    "busy": "web.refused_busy",
    "empty": "web.refused_empty",
    "none": "web.refused_none",
    "stale": "web.refused_stale",
}
# The notice after each call action.
DONE = {"call": "called", "recall": "recalled", "served": "served", "no_show": "no_show"}
# Rendered roster rows by locale, then by the Visit object's id, each entry holding its Visit:
# the roster keeps an unchanged booking's Visit object from one read to the next
# (bot/booking/calls.py), so a lookup is an int's hash and an identity check, where hashing the
# Visit compared all its fields (a fifth of a page's CPU with 600 bookings, cProfile). Holding
# the Visit keeps its id from being reused.
ROWS_KEY = web.AppKey("counter_rows", dict[str, dict[int, tuple[Visit, str]]])
# Per web app and locale; cleared when it grows past this.
MAX_ROWS_KEPT = 50_000
STATES = ("active", "checked_in", "called", "served", "no_show", "cancelled")


def _staff(request: web.Request) -> tuple[App, StaffSession, str] | web.Response:
    """The app, the session and its locale; or the refusal page for a session that is not an
    officer's or admin's of this office."""
    app = request.app[APP_KEY]
    session = staff_session(request)
    if session.office in app.offices:
        # The office the session is bound to (a network's staff sign in at their own office).
        app = app.view(session.office)
    locale = page_locale(request, session.locale)
    if session.role not in ROLES or session.office != app.office.id:
        t = app.catalog.t
        heading, why = t(locale, "web.forbidden_heading"), t(locale, "web.forbidden_role")
        return message(request, locale, heading, why, status=403)
    return app, session, locale


def _counter_of(request: web.Request) -> int | None:
    raw = request.cookies.get(COUNTER_COOKIE, "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_COUNTER else None


def _back(locale: str, **params: str | int) -> web.Response:
    return see_other(f"{PAGE}?{urlencode({'lang': locale, **params})}")


def _visit_row(app: App, locale: str, visit: Visit) -> dict[str, Any]:
    service = app.office.service(visit.service)
    return {
        "id": visit.id,
        "number": visit.queue_number,
        "name": visit.name,
        "last4": visit.nik_last4,
        "service": service.name(locale) if service else visit.service,
        "state": visit.status,
        "state_text": app.catalog.t(locale, f"web.state_{visit.status}")
        if visit.status in STATES
        else visit.status,
        "counter": visit.counter,
        "calls": visit.calls,
    }


def _row_html(app: App, locale: str, visit: Visit) -> str:
    """One row of the roster table. Rendered once per booking state and kept (:data:`ROWS_KEY`):
    a reload after each action re-renders a whole day's roster, of which one row changed."""
    row = _visit_row(app, locale, visit)
    state = escape(row["state_text"])
    if visit.counter and visit.status == "called":
        state += " · " + escape(app.catalog.t(locale, "web.counter_heading", counter=visit.counter))
    return (
        f'<tr id="row-{escape(visit.id)}" class="state-{escape(visit.status)}">'
        f"<td>{escape(row['number'])}</td><td>{escape(row['name'])}</td>"
        f'<td>{escape(row["service"])}</td><td class="state">{state}</td></tr>\n'
    )


def _window_label(app: App, day: date, window_id: str) -> str:
    window = app.office.window(day, window_id)
    return window.label if window else window_id


@scripted
async def counter_page(request: web.Request) -> web.StreamResponse:
    """GET /staff/loket: choose a counter, or the counter's call, check-in and today's roster."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    app, session, locale = staff
    counter = _counter_of(request)
    values: dict[str, Any] = {
        "csrf": session.csrf,
        "counter": counter,
        "counters": range(1, MAX_COUNTER + 1),
        "lang_query": urlencode({"lang": locale}),
        "who": session.who,
    }
    if counter is None:
        return render(request, "counter_choose.html", locale, **values)
    day = app.desk.today()
    visits = await app.desk.roster(day)
    rows = request.app[ROWS_KEY].setdefault(locale, {})
    if len(rows) > MAX_ROWS_KEPT:
        rows.clear()
    # One pass over a day that may hold thousands of bookings, on every reload: kept rows are
    # looked up by identity, and the roster is in call order, so a window's rows come together.
    kept_row = rows.get
    windows: dict[str, list[str]] = {}
    html: list[str] = []
    window_id = None
    waiting = 0
    current = None
    for visit in visits:
        kept = kept_row(id(visit))
        if kept is None or kept[0] is not visit:
            kept = rows[id(visit)] = (visit, _row_html(app, locale, visit))
        if visit.window != window_id:
            window_id = visit.window
            html = windows.setdefault(window_id, [])
        html.append(kept[1])
        status = visit.status
        if status == "checked_in":
            waiting += 1
        elif status == "called" and current is None and visit.counter == counter:
            current = visit
    notice = ""
    key = NOTICES.get(request.query.get("n", ""))
    if key:
        notice = app.catalog.t(locale, key, number=request.query.get("q", "")[:12], counter=counter)
    values.update(
        day=app.catalog.format_day(locale, day),
        roster=[
            (_window_label(app, day, window_id), Markup("".join(html)))
            for window_id, html in windows.items()
        ],
        current=_visit_row(app, locale, current) if current else None,
        waiting=waiting,
        notice=notice,
        notice_kind="bad" if request.query.get("n") in ("busy", "empty", "none", "stale") else "ok",
    )
    return render(request, "counter.html", locale, **values)


async def change_counter(request: web.Request) -> web.StreamResponse:
    """GET /staff/loket/ganti: the form to choose another counter."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    _, session, locale = staff
    return render(
        request,
        "counter_choose.html",
        locale,
        csrf=session.csrf,
        counter=_counter_of(request),
        counters=range(1, MAX_COUNTER + 1),
        lang_query=urlencode({"lang": locale}),
    )


async def choose_counter(request: web.Request) -> web.StreamResponse:
    """POST /staff/loket/pilih: remember the counter (a cookie for the staff pages, ending with
    the session)."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    app, session, locale = staff
    form = await request.post()
    raw = str(form.get("counter", ""))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNTER:
        raise web.HTTPBadRequest()
    response = _back(locale)
    seconds = max(1, int((session.expires - app.clock.now()).total_seconds()))
    response.set_cookie(
        COUNTER_COOKIE,
        raw,
        path=PREFIX,
        max_age=seconds,
        httponly=True,
        samesite="Strict",
        secure=app.settings.public_base_url().startswith("https://"),
    )
    await app.audit.record(session.identity, "counter", "ok", counter=int(raw))
    return response


async def _checked(
    app: App, session: StaffSession, locale: str, code: str
) -> tuple[Booking | None, str]:
    """The booking a typed or scanned code is for, and '' if it may be checked in; else the
    reason to refuse (a catalog text). Refusals are audited like /checkin's: never the code."""
    t = app.catalog.t
    try:
        booking_id = BookingCodes.booking_id_of(code)
    except InvalidInput:
        await app.audit.record(session.identity, "checkin", "refused", reason="format")
        return None, t(locale, "staff.checkin_format")
    booking = await app.seats.get(booking_id)
    if booking is None or not app.codes.verify(code, app.office.id, booking.nik_hash):
        reason = "not_found" if booking is None else "forged"
        await app.audit.record(
            session.identity, "checkin", "refused", reason=reason, booking=booking_id
        )
        return None, t(locale, f"staff.checkin_{reason}")
    why = _refusal(app, locale, booking)
    return booking, why


def _refusal(app: App, locale: str, booking: Booking) -> str:
    t = app.catalog.t
    if booking.status == "checked_in":
        return t(locale, "staff.checkin_checked_in")
    if booking.status != "active":
        return t(locale, "staff.checkin_inactive", status=t(locale, f"status.{booking.status}"))
    if booking.day != app.desk.today():
        return t(locale, "staff.checkin_wrong_day", day=app.catalog.format_day(locale, booking.day))
    return ""


def _lookup_page(
    request: web.Request,
    app: App,
    session: StaffSession,
    locale: str,
    code: str,
    booking: Booking | None,
    refusal: str,
) -> web.Response:
    shown = None
    if booking is not None:
        service = app.office.service(booking.service)
        shown = {
            "number": booking.queue_number,
            "name": booking.name,
            "last4": booking.nik_last4,
            "service": service.name(locale) if service else booking.service,
            "window": _window_label(app, booking.day, booking.window),
            "day": app.catalog.format_day(locale, booking.day),
        }
    return render(
        request,
        "checkin.html",
        locale,
        status=200 if not refusal else 409 if booking is not None else 404,
        csrf=session.csrf,
        code=code if booking is not None else "",
        booking=shown,
        refusal=refusal,
        lang_query=urlencode({"lang": locale}),
    )


def _code_of(form: Any) -> str:
    return str(form.get("code", "")).strip()[:64]


async def look_up(request: web.Request) -> web.StreamResponse:
    """POST /staff/loket/cek: what a typed or scanned code is for, to compare with the e-KTP."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    app, session, locale = staff
    code = _code_of(await request.post())
    booking, refusal = await _checked(app, session, locale, code)
    return _lookup_page(request, app, session, locale, code, booking, refusal)


async def check_in(request: web.Request) -> web.StreamResponse:
    """POST /staff/loket/hadir: check the applicant in (the code once more, checked again)."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    app, session, locale = staff
    code = _code_of(await request.post())
    booking, refusal = await _checked(app, session, locale, code)
    if booking is None or refusal:
        return _lookup_page(request, app, session, locale, code, booking, refusal)
    try:
        done = await app.desk.check_in(booking.id, staff=session.identity)
    except CheckInRefused as exc:  # checked in meanwhile at another counter, say
        seen = exc.booking or booking
        return _lookup_page(
            request, app, session, locale, code, seen, _refusal(app, locale, seen) or exc.reason
        )
    return _back(locale, n="checked_in", q=done.queue_number)


def _call_action(action: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        staff = _staff(request)
        if isinstance(staff, web.Response):
            return staff
        app, session, locale = staff
        counter = _counter_of(request)
        if counter is None:
            return _back(locale)
        form = await request.post()
        booking_id = str(form.get("booking", ""))[:16]
        who = session.identity
        try:
            if action == "call":
                visit = await app.desk.call_next(counter, staff=who)
            else:
                finish = {
                    "recall": app.desk.recall,
                    "served": app.desk.served,
                    "no_show": app.desk.counter_no_show,
                }[action]
                visit = await finish(counter, staff=who, booking_id=booking_id)
        except CallRefused as exc:
            number = exc.visit.queue_number if exc.visit else ""
            return _back(locale, n=exc.reason, q=number)
        return _back(locale, n=DONE[action], q=visit.queue_number)

    handle.__name__ = f"counter_{action}"
    return handle


def add_counter_routes(staff: web.Application) -> None:
    """Add the counter page's routes to the ``/staff`` sub-application."""
    staff[ROWS_KEY] = {}
    staff.router.add_get("/loket", counter_page)
    staff.router.add_get("/loket/ganti", change_counter)
    staff.router.add_post("/loket/pilih", choose_counter)
    staff.router.add_post("/loket/cek", look_up)
    staff.router.add_post("/loket/hadir", check_in)
    staff.router.add_post("/loket/panggil", _call_action("call"))
    staff.router.add_post("/loket/ulang", _call_action("recall"))
    staff.router.add_post("/loket/selesai", _call_action("served"))
    staff.router.add_post("/loket/tidak-hadir", _call_action("no_show"))
