"""Staff sign-in without passwords: single-use links from chat, and the web sessions they open.

A staff identity asks the bot (``/masuk``, ``/login``) and gets a link with a random token. Only
the token's SHA-256 is kept in Redis, as a *grant* (who, which role, which office, which
language, until when), written with the turn's save. Opening the link shows a page; its button
POSTs the token back, and :data:`SIGN_IN` takes the grant once and opens the session in one
script (both keys share the office's ``{staff:<office>}`` slot). A used grant is kept, marked, until
its key expires, so that a second use is told apart from a mistyped link.

A session is a random id in an HttpOnly cookie (only its SHA-256 is a Redis key) and a hash with
the identity, role, office, language and a CSRF token; it ends at the end of the office's local
day. Every request checks it again, and against the settings of now: an identity taken out of
``ANTREAN_STAFF``, or given another role, loses its session at once.

Nothing here knows HTTP (bot/web/staff.py serves the pages), so later staff pages reuse it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.booking.office import Office
from bot.booking.replies import text
from bot.core.clock import Clock, ms
from bot.core.writes import Write
from bot.errors import StorageError
from bot.infra.keys import StaffKeys

# A used grant stays (marked) this long past its validity: a second use is told "already used"
# rather than "unknown".
USED_KEPT_MS = 60 * 60 * 1000
# token_hex: no character a chat app could read as formatting (_italic_, *bold*).
TOKEN_BYTES = 24
_TOKEN_RE = re.compile(rf"^[0-9a-f]{{{TOKEN_BYTES * 2}}}$")
_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
USED = "used|"

# Take a sign-in grant once and open the web session it grants, in one step.
#   KEYS[1] the grant (StaffKeys.signin)   KEYS[2] the new session (StaffKeys.web_session)
#   ARGV[1] now (ms)   ARGV[2] the session's CSRF token   ARGV[3] when the session ends (ms)
# Returns {"ok", grant} or {"unknown" | "used" | "expired", grant or ""}.
SIGN_IN = """
local grant = redis.call('GET', KEYS[1])
if not grant then return {'unknown', ''} end
if string.sub(grant, 1, 5) == 'used|' then return {'used', string.sub(grant, 6)} end
local g = cjson.decode(grant)
local now = tonumber(ARGV[1])
if tonumber(g['expires']) <= now then return {'expired', grant} end
redis.call('SET', KEYS[1], 'used|' .. grant, 'KEEPTTL')
redis.call('HSET', KEYS[2], 'identity', g['identity'], 'role', g['role'], 'office', g['office'],
  'locale', g['locale'], 'csrf', ARGV[2], 'since', ARGV[1], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[2], math.max(1, tonumber(ARGV[3]) - now))
return {'ok', grant}
"""

Refusal = Literal["unknown", "used", "expired", "not_staff"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mask_identity(identity: str) -> str:
    """An identity as a page may show it: the channel and a few characters of the user id
    (``telegram:55…01``), never the whole id (a phone number on WhatsApp)."""
    channel, _, user = identity.partition(":")
    shown = user[:1] + "…" if len(user) <= 5 else f"{user[:2]}…{user[-2:]}"
    return f"{channel}:{shown}"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a sign-in link grants: who, in which role, at which office, in which language."""

    identity: str
    role: str
    office: str
    locale: str
    expires: datetime

    @classmethod
    def parse(cls, raw: str) -> Grant:
        data = json.loads(raw)
        return cls(
            identity=str(data["identity"]),
            role=str(data["role"]),
            office=str(data["office"]),
            locale=str(data["locale"]),
            expires=_from_ms(int(data["expires"])),
        )


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A signed-in staff member's web session."""

    identity: str
    role: str
    office: str
    locale: str
    csrf: str
    since: datetime
    expires: datetime

    @property
    def who(self) -> str:
        return mask_identity(self.identity)

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether a form's CSRF token is this session's (in constant time)."""
        return bool(sent) and secrets.compare_digest(self.csrf.encode(), (sent or "").encode())


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A sign-in that worked: the cookie's session id (shown once, never stored) and its
    session."""

    session_id: str
    session: StaffSession


@dataclass(frozen=True, slots=True)
class Refused:
    """A sign-in refused, and the grant when there was one (for the audit log)."""

    reason: Refusal
    grant: Grant | None = None


class StaffAccess:
    """Issues sign-in links and keeps the web sessions of one office's staff."""

    def __init__(
        self,
        redis: aioredis.Redis,
        office: Office,
        clock: Clock,
        staff_role: Callable[[str], str | None],
        *,
        link_minutes: int = 5,
    ) -> None:
        self._redis = redis
        self._office = office
        self._clock = clock
        self._staff_role = staff_role
        self._keys = StaffKeys(office.id)
        self.link_minutes = link_minutes
        self._sign_in: Any = redis.register_script(SIGN_IN)

    # -- links ---------------------------------------------------------------------------------

    def issue(self, identity: str, role: str, locale: str) -> tuple[str, Write]:
        """A new link's token, and the write that stores its grant (to send with the turn's
        save: :meth:`Context.later <bot.core.dialog.Context.later>`)."""
        token = secrets.token_hex(TOKEN_BYTES)
        valid_ms = self.link_minutes * 60_000
        grant = {
            "identity": identity,
            "role": role,
            "office": self._office.id,
            "locale": locale,
            "expires": ms(self._clock.now()) + valid_ms,
        }
        key = self._keys.signin(token_hash(token))
        value = json.dumps(grant, separators=(",", ":"))
        return token, Write(("SET", key, value, "PX", valid_ms + USED_KEPT_MS))

    async def peek(self, token: str) -> Grant | Refused:
        """What a link grants, without using it (a chat app fetching a preview must not)."""
        if not _TOKEN_RE.match(token):
            return Refused("unknown")
        try:
            raw = await self._redis.get(self._keys.signin(token_hash(token)))
        except RedisError as exc:
            raise StorageError(f"sign-in link: {exc}") from exc
        if raw is None:
            return Refused("unknown")
        value = text(raw)
        if value.startswith(USED):
            return Refused("used", Grant.parse(value.removeprefix(USED)))
        grant = Grant.parse(value)
        if grant.expires <= self._clock.now():
            return Refused("expired", grant)
        if self._staff_role(grant.identity) != grant.role:
            return Refused("not_staff", grant)
        return grant

    async def sign_in(self, token: str) -> SignedIn | Refused:
        """Use a link: take its grant once and open the session it grants, until the end of
        the office's day."""
        if not _TOKEN_RE.match(token):
            return Refused("unknown")
        now = self._clock.now()
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        ends = self.day_end(now)
        session_key = self._keys.web_session(token_hash(session_id))
        try:
            outcome, raw = await self._sign_in(
                keys=[self._keys.signin(token_hash(token)), session_key],
                args=[ms(now), csrf, ms(ends)],
            )
        except RedisError as exc:
            raise StorageError(f"sign-in: {exc}") from exc
        outcome, value = text(outcome), text(raw)
        grant = Grant.parse(value) if value else None
        if outcome != "ok" or grant is None:
            return Refused(outcome if outcome in ("used", "expired") else "unknown", grant)  # type: ignore[arg-type]
        if self._staff_role(grant.identity) != grant.role:
            # Taken out of ANTREAN_STAFF (or given another role) since the link was sent.
            await self._delete(session_key)
            return Refused("not_staff", grant)
        session = StaffSession(
            grant.identity, grant.role, grant.office, grant.locale, csrf, now, ends
        )
        return SignedIn(session_id, session)

    def day_end(self, now: datetime) -> datetime:
        """The end of the office's local day ``now`` is in."""
        tomorrow = self._office.local_today(now) + timedelta(days=1)
        return datetime.combine(tomorrow, time(0), tzinfo=self._office.tz)

    # -- sessions ------------------------------------------------------------------------------

    async def session(self, session_id: str | None) -> StaffSession | None:
        """The live session of a cookie's id, or None (none, ended, another office's, or its
        identity no longer staff in that role)."""
        if not session_id or not _SESSION_RE.match(session_id):
            return None
        try:
            raw: dict[Any, Any] = await self._redis.hgetall(
                self._keys.web_session(token_hash(session_id))
            )
        except RedisError as exc:
            raise StorageError(f"staff session: {exc}") from exc
        fields = {text(k): text(v) for k, v in raw.items()}
        if not fields:
            return None
        session = StaffSession(
            identity=fields["identity"],
            role=fields["role"],
            office=fields["office"],
            locale=fields["locale"],
            csrf=fields["csrf"],
            since=_from_ms(int(fields["since"])),
            expires=_from_ms(int(fields["expires"])),
        )
        if session.expires <= self._clock.now() or session.office != self._office.id:
            return None
        if self._staff_role(session.identity) != session.role:
            return None
        return session

    async def sign_out(self, session_id: str) -> None:
        """End a session (its cookie is then worth nothing, wherever a copy of it is)."""
        if _SESSION_RE.match(session_id):
            await self._delete(self._keys.web_session(token_hash(session_id)))

    async def _delete(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except RedisError as exc:
            raise StorageError(f"staff session: {exc}") from exc


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
