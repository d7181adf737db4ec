"""The satisfaction survey page under ``/staff/ikm``: one office-day's IKM (PermenPAN-RB
No. 14/2017, bot/booking/ikm.py) as the regulation's tables show it.

Behind the staff pages' guard (:mod:`bot.web.staff`), for the roles that may see ``/stats``
(officer and admin) of this office only, as the counter page (:func:`bot.web.counter._staff`).
``?day=YYYY-MM-DD`` chooses the day (the office's today by default): per element its NRR and
weighted NRR, their sum, the unit's score (x 25) and quality category, the respondents, and the
newest comments (escaped by the template engine like everything else). One round trip.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from aiohttp import web

from bot.booking.ikm import ELEMENTS, rounded
from bot.core.clock import parse_day
from bot.web.counter import _staff
from bot.web.staff import PREFIX, render

PAGE = f"{PREFIX}/ikm"
# Comments the page shows, newest first.
SHOWN_COMMENTS = 50


async def ikm_page(request: web.Request) -> web.StreamResponse:
    """GET /staff/ikm?day=YYYY-MM-DD: the day's satisfaction index."""
    staff = _staff(request)
    if isinstance(staff, web.Response):
        return staff
    app, _, locale = staff
    t = app.catalog.t
    raw = request.query.get("day", "")[:10]
    day: date | None = parse_day(raw) if raw else None
    bad_day = bool(raw) and day is None
    day = day or app.desk.today()
    survey = await app.desk.surveys.day(day, SHOWN_COMMENTS)
    found = survey.index
    rows = []
    if found is not None:
        for n, (element, nrr, weighted) in enumerate(
            zip(ELEMENTS, found.nrr, found.weighted, strict=True), 1
        ):
            rows.append(
                {
                    "n": n,
                    "name": t(locale, f"ikm.{element}"),
                    "nrr": rounded(nrr, 2),
                    "weighted": rounded(weighted, 3),
                }
            )
    tz = app.office.tz
    return render(
        request,
        "ikm.html",
        locale,
        office=app.office.name,
        day=day.isoformat(),
        day_text=app.catalog.format_day(locale, day),
        bad_day=bad_day,
        lang_query=urlencode({"lang": locale}),
        index=found,
        rows=rows,
        total=rounded(found.ikm, 4) if found else None,
        grade=t(locale, f"ikm.grade_{found.category}") if found else "",
        comments=[(f"{c.at.astimezone(tz):%H:%M}", c.text) for c in survey.comments],
    )


def add_ikm_routes(staff: web.Application) -> None:
    """Add the survey page's route to the ``/staff`` sub-application."""
    staff.router.add_get("/ikm", ikm_page)
