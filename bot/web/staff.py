"""The staff pages under ``/staff``: sign-in from a chat link, a landing page, sign-out, and
the counter page (:mod:`bot.web.counter`).

Served by ``antrean run`` as a sub-application (:func:`staff_app`), so that its guard (the
middleware :func:`guard`) sees every ``/staff`` request and nothing else:

- Every handler needs a signed-in session unless it is marked :func:`public`; without one, a GET
  is sent (303) to the page that says how to get a link, anything else is refused (403).
- Every POST of a signed-in page carries the session's CSRF token in the form field ``csrf``
  (compared in constant time); the sign-in POST carries the link's token instead, which is as
  secret. A POST another site's page made (``Sec-Fetch-Site``, else ``Origin``) is refused
  either way, so that nobody can sign a browser in with their own link either.
- Every response has the security headers of :data:`SECURITY_HEADERS` (no script, no
  framing, no referrer, no caching); a page marked :func:`scripted` may run the package's own
  static scripts (never inline ones) and use the camera (:data:`SCRIPTED_HEADERS`).

Links and sessions themselves (Redis, expiry, roles) are :mod:`bot.booking.staff_access`.
Texts come from the booking catalogs' ``web.*`` keys, in the language of the link or session,
``?lang=`` overriding it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.booking.app import App, OfficeServices
from bot.booking.staff_access import Grant, Refused, StaffAccess, StaffSession, mask_identity
from bot.errors import StorageError

log = logging.getLogger(__name__)

COOKIE = "antrean_staff"
PREFIX = "/staff"
SIGN_IN_PATH = f"{PREFIX}/masuk"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# A page marked :func:`scripted` (the counter page: its camera scanner) may run scripts from
# /staff/static and nowhere else (still no inline script) and use the camera.
SCRIPTED_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
# A refused link: used and expired ones are gone for good (410), others forbidden (403).
REFUSED_STATUS = {"unknown": 403, "not_staff": 403, "used": 410, "expired": 410}
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}

APP_KEY = web.AppKey("staff_app", App)
PAGES_KEY = web.AppKey("staff_pages", Environment)
STATIC_KEY = web.AppKey("staff_static", dict[str, bytes])
# The signed-in session of the request being handled (each request runs in its own task, so
# in its own context; request storage would want aiohttp's newest RequestKey).
_SESSION: ContextVar[StaffSession] = ContextVar("staff_session")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PUBLIC: set[Handler] = set()


_SCRIPTED: set[Handler] = set()


def public(handler: Handler) -> Handler:
    """Mark a handler as needing no session (the sign-in pages, static files)."""
    _PUBLIC.add(handler)
    return handler


def scripted(handler: Handler) -> Handler:
    """Mark a page whose own static scripts may run (:data:`SCRIPTED_HEADERS`)."""
    _SCRIPTED.add(handler)
    return handler


def staff_session(request: web.Request) -> StaffSession:
    """The session of a signed-in request (the guard put it there)."""
    return _SESSION.get()


# In a network, the cookie is "<office id>.<session id>": the session lives in its office's
# slot, and is bound to that office (neither part can hold a dot).
_OFFICE_SEP = "."


def _office(request: web.Request, office_id: str | None) -> OfficeServices | None:
    """The services of the office a link or cookie names (none named: the default office;
    None for an office that is not in the network)."""
    app = request.app[APP_KEY]
    if not office_id:
        return app.home
    return app.offices.get(office_id)


def _cookie(office: OfficeServices, session_id: str, app: App) -> str:
    if office.office.id == app.office.id:
        return session_id
    return f"{office.office.id}{_OFFICE_SEP}{session_id}"


def _from_cookie(request: web.Request) -> tuple[OfficeServices | None, str]:
    """The office and session id of the request's cookie."""
    raw = request.cookies.get(COOKIE, "")
    office_id, _, session_id = raw.rpartition(_OFFICE_SEP)
    return _office(request, office_id), session_id


def _link_office(request: web.Request) -> str | None:
    """The office a sign-in link names (``o=``), if any."""
    return request.query.get("o") or None


# -- pages -----------------------------------------------------------------------------------


def _locale(request: web.Request, *preferred: str | None) -> str:
    app = request.app[APP_KEY]
    return app.catalog.resolve_locale(request.query.get("lang"), *preferred)


def render(
    request: web.Request, template: str, locale: str, *, status: int = 200, **values: Any
) -> web.Response:
    app = request.app[APP_KEY]

    def t(key: str, **params: Any) -> str:
        return app.catalog.t(locale, key, **params)

    page = request.app[PAGES_KEY].get_template(template)
    values.setdefault("office", app.office.name)
    body = page.render(t=t, lang=locale, **values)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def message(
    request: web.Request, locale: str, heading: str, *lines: str, status: int = 200
) -> web.Response:
    return render(request, "message.html", locale, status=status, heading=heading, lines=lines)


def _ask_for_link(
    request: web.Request, locale: str, *before: str, status: int = 200
) -> web.Response:
    app = request.app[APP_KEY]
    t = app.catalog.t
    return message(
        request,
        locale,
        t(locale, "web.ask_heading"),
        *before,
        t(locale, "web.ask_bot"),
        status=status,
    )


def _refused(request: web.Request, refused: Refused) -> web.Response:
    app = request.app[APP_KEY]
    if refused.grant is not None and refused.grant.office in app.offices:
        app = app.view(refused.grant.office)
    locale = _locale(request, refused.grant.locale if refused.grant else None)
    reason = app.catalog.t(
        locale, f"web.refused_{refused.reason}", minutes=app.staff_access.link_minutes
    )
    ask = app.catalog.t(locale, "web.ask_bot")
    heading = app.catalog.t(locale, "web.refused_heading")
    return message(request, locale, heading, reason, ask, status=REFUSED_STATUS[refused.reason])


def see_other(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location})


def _role(request: web.Request, locale: str, role: str) -> str:
    return request.app[APP_KEY].catalog.t(locale, f"web.role_{role}")


@public
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    """GET /staff/masuk?t=...: the page with the sign-in button. It never uses the link (chat
    apps fetch links for their previews); without a token, how to get one."""
    app = request.app[APP_KEY]
    token = request.query.get("t", "")
    if not token:
        locale = _locale(request)
        out = [app.catalog.t(locale, "web.signed_out")] if "out" in request.query else []
        return _ask_for_link(request, locale, *out)
    office = _office(request, _link_office(request))
    grant = await _access(office).peek(token)
    if isinstance(grant, Refused):
        return _refused(request, grant)
    assert office is not None  # a link to no office of the network is refused as unknown
    locale = _locale(request, grant.locale)
    query = {"lang": locale}
    if office.office.id != app.office.id:
        query["o"] = office.office.id
    return render(
        request,
        "signin.html",
        locale,
        who=mask_identity(grant.identity),
        role=_role(request, locale, grant.role),
        token=token,
        action=SIGN_IN_PATH + "?" + urlencode(query),
        office=office.office.name,
    )


class _NoOffice:
    """The sign-in of a link naming an office that is not in the network: refused as unknown."""

    async def peek(self, token: str) -> Refused:
        return Refused("unknown")

    async def sign_in(self, token: str) -> Refused:
        return Refused("unknown")


def _access(office: OfficeServices | None) -> StaffAccess | _NoOffice:
    return office.staff_access if office is not None else _NoOffice()


@public
async def sign_in(request: web.Request) -> web.StreamResponse:
    """POST /staff/masuk: use the link (once), open the session, set its cookie, go to /staff."""
    app = request.app[APP_KEY]
    form = await request.post()
    token = str(form.get("t", ""))
    office = _office(request, _link_office(request))
    outcome = await _access(office).sign_in(token)
    audit = (office or app.home).audit
    if isinstance(outcome, Refused):
        grant: Grant | None = outcome.grant
        actor = grant.identity if grant else "web"
        await audit.record(actor, "signin", "refused", reason=outcome.reason)
        return _refused(request, outcome)
    assert office is not None
    session = outcome.session
    old_office, old = _from_cookie(request)
    if old and old_office is not None:  # a session this browser had before: ended, not left
        await old_office.staff_access.sign_out(old)
    await audit.record(session.identity, "signin", "ok", role=session.role)
    response = see_other(_with_lang(PREFIX, request))
    seconds = max(1, int((session.expires - app.clock.now()).total_seconds()))
    response.set_cookie(
        COOKIE,
        _cookie(office, outcome.session_id, app),
        path=PREFIX,
        max_age=seconds,
        httponly=True,
        samesite="Strict",
        secure=app.settings.public_base_url().startswith("https://"),
    )
    return response


async def home(request: web.Request) -> web.StreamResponse:
    """GET /staff: who is signed in, where, as what, until when; and sign-out."""
    app = request.app[APP_KEY].view(staff_session(request).office)
    session = staff_session(request)
    locale = _locale(request, session.locale)
    ends = session.expires.astimezone(app.office.tz)
    return render(
        request,
        "home.html",
        locale,
        who=session.who,
        role=_role(request, locale, session.role),
        until=f"{app.catalog.format_day(locale, ends.date())} {ends:%H:%M} {ends.tzname()}",
        csrf=session.csrf,
        signout=f"{PREFIX}/keluar" + ("?" + urlencode({"lang": locale})),
        office=app.office.name,
    )


async def sign_out(request: web.Request) -> web.StreamResponse:
    """POST /staff/keluar: end the session, drop the cookie."""
    app = request.app[APP_KEY].view(staff_session(request).office)
    session = staff_session(request)
    await app.staff_access.sign_out(_from_cookie(request)[1])
    await app.audit.record(session.identity, "signout", "ok", role=session.role)
    locale = _locale(request, session.locale)
    response = see_other(SIGN_IN_PATH + "?" + urlencode({"out": 1, "lang": locale}))
    response.del_cookie(COOKIE, path=PREFIX)
    return response


@public
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = request.app[STATIC_KEY].get(name)
    if body is None:
        raise web.HTTPNotFound()
    kind = STATIC_TYPES[name[name.rfind(".") :]]
    return web.Response(body=body, content_type=kind, headers={"Cache-Control": "no-store"})


def _with_lang(path: str, request: web.Request) -> str:
    lang = request.query.get("lang")
    return f"{path}?{urlencode({'lang': lang})}" if lang else path


# -- the guard -------------------------------------------------------------------------------


def _same_origin(request: web.Request) -> bool:
    """False for a request another site's page made. Browsers say so in ``Sec-Fetch-Site``;
    ``Origin`` is the fallback, and is ``null`` on our own forms (Referrer-Policy
    no-referrer), which says nothing either way."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True  # not a browser's cross-site form: the tokens still have to match
    return urlsplit(origin).netloc == request.host


def _forbidden(request: web.Request, locale: str) -> web.Response:
    t = request.app[APP_KEY].catalog.t
    heading, why = t(locale, "web.forbidden_heading"), t(locale, "web.forbidden_csrf")
    return message(request, locale, heading, why, status=403)


async def _authorise(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app[APP_KEY]
    if request.method == "POST" and not _same_origin(request):
        await app.audit.record("web", "staff_web", "refused", reason="origin", path=request.path)
        return _forbidden(request, _locale(request))
    if handler in _PUBLIC:
        return await handler(request)
    office, session_id = _from_cookie(request)
    # Bound to its office: the office's sessions only (StaffAccess.session checks the office).
    session = await office.staff_access.session(session_id) if office is not None else None
    if session is None:
        if request.method in ("GET", "HEAD"):  # a bookmark, a session ended: not an attempt
            return see_other(_with_lang(SIGN_IN_PATH, request))
        await app.audit.record(
            "web", "staff_web", "refused", reason="no_session", path=request.path
        )
        return _ask_for_link(request, _locale(request), status=403)
    if request.method == "POST":
        form = await request.post()
        sent = form.get("csrf")
        if not session.csrf_ok(sent if isinstance(sent, str) else None):
            await app.audit.record(
                session.identity, "staff_web", "refused", reason="csrf", path=request.path
            )
            return _forbidden(request, _locale(request, session.locale))
    _SESSION.set(session)
    return await handler(request)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authorise every /staff request (see the module's docstring) and add the security
    headers to whatever it answers, errors included."""
    response: web.StreamResponse
    try:
        response = await _authorise(request, handler)
    except web.HTTPException as exc:
        response = web.Response(status=exc.status, text=f"{exc.status} {exc.reason}")
    except StorageError as exc:
        log.warning("staff pages: Redis unreachable: %s", exc)
        response = web.Response(text="503", status=503)
    response.headers.update(SECURITY_HEADERS)
    if handler in _SCRIPTED:
        response.headers.update(SCRIPTED_HEADERS)
    return response


def _static_files() -> dict[str, bytes]:
    """The files of bot/web/static and its vendor/ folder served (by their path there)."""
    static = resources.files("bot.web") / "static"
    out: dict[str, bytes] = {}
    for folder, prefix in ((static, ""), (static / "vendor", "vendor/")):
        for entry in folder.iterdir():
            if entry.is_file() and entry.name[entry.name.rfind(".") :] in STATIC_TYPES:
                out[prefix + entry.name] = entry.read_bytes()
    return out


def staff_app(app: App) -> web.Application:
    """The ``/staff`` sub-application (mounted by :func:`bot.web.app.build_web_app`)."""
    staff = web.Application(middlewares=[guard])
    staff[APP_KEY] = app
    staff[PAGES_KEY] = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        auto_reload=False,
    )
    staff[STATIC_KEY] = _static_files()
    staff.router.add_get("", home)
    staff.router.add_get("/masuk", sign_in_page)
    staff.router.add_post("/masuk", sign_in)
    staff.router.add_post("/keluar", sign_out)
    staff.router.add_get("/static/{name:(vendor/)?[^/]+}", static)
    return staff
