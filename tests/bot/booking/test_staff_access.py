"""Staff sign-in links and web sessions, on a real Redis (no HTTP: bot/web/staff.py has its own)."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.staff_access import (
    Grant,
    Refused,
    SignedIn,
    StaffAccess,
    mask_identity,
    token_hash,
)
from bot.core.clock import ManualClock
from bot.core.writes import run
from bot.infra.keys import StaffKeys
from tests.support import make_app

STAFF = "console:admin=admin,telegram:5550001=officer"


def make(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> App:
    return make_app(redis, clock, tmp_path, staff=STAFF)


async def issued(app: App, identity: str = "telegram:5550001", role: str = "officer") -> str:
    token, write = app.staff_access.issue(identity, role, "en")
    await run(app.redis, [write])
    return token


async def test_a_link_grants_its_identity_role_and_office_and_stores_only_a_hash(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    token = await issued(app)
    keys = [k async for k in redis.scan_iter("*")]
    assert keys == [StaffKeys(app.office.id).signin(token_hash(token))]
    assert token not in keys[0] and token not in await redis.get(keys[0])
    assert keys[0].startswith(f"antrean:{{staff:{app.office.id}}}:")
    grant = await app.staff_access.peek(token)
    assert isinstance(grant, Grant)
    assert (grant.identity, grant.role, grant.office, grant.locale) == (
        "telegram:5550001",
        "officer",
        app.office.id,
        "en",
    )
    # Looking does not use it: it still signs in, once.
    assert isinstance(await app.staff_access.peek(token), Grant)
    signed = await app.staff_access.sign_in(token)
    assert isinstance(signed, SignedIn)
    assert signed.session_id not in str([k async for k in redis.scan_iter("*")])
    again = await app.staff_access.sign_in(token)
    assert isinstance(again, Refused) and again.reason == "used"
    assert again.grant is not None and again.grant.identity == "telegram:5550001"
    peeked = await app.staff_access.peek(token)
    assert isinstance(peeked, Refused) and peeked.reason == "used"


async def test_two_uses_at_once_sign_in_once(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    token = await issued(app)
    outcomes = await asyncio.gather(*(app.staff_access.sign_in(token) for _ in range(20)))
    assert sum(isinstance(o, SignedIn) for o in outcomes) == 1
    assert {o.reason for o in outcomes if isinstance(o, Refused)} == {"used"}
    assert len([k async for k in redis.scan_iter("*web-session*")]) == 1


async def test_expired_unknown_and_malformed_links_are_refused(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    token = await issued(app)
    clock.advance(timedelta(minutes=app.settings.signin_link_minutes))
    for outcome in (await app.staff_access.peek(token), await app.staff_access.sign_in(token)):
        assert isinstance(outcome, Refused) and outcome.reason == "expired"
    for bad in ("0" * 48, "nope", "", "x" * 10_000, token.upper()):
        outcome = await app.staff_access.sign_in(bad)
        assert isinstance(outcome, Refused) and outcome.reason == "unknown"
    assert [k async for k in redis.scan_iter("*web-session*")] == []


async def test_a_session_ends_with_the_office_day_and_with_the_staff_role(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    signed = await app.staff_access.sign_in(await issued(app))
    assert isinstance(signed, SignedIn)
    session = await app.staff_access.session(signed.session_id)
    assert session is not None and session == signed.session
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("") and not session.csrf_ok(None)
    local = clock.now().astimezone(app.office.tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=app.office.tz)
    assert session.expires == midnight
    ttl = await redis.pttl(StaffKeys(app.office.id).web_session(token_hash(signed.session_id)))
    assert 0 < ttl <= (midnight - clock.now()).total_seconds() * 1000
    assert await app.staff_access.session("x" * 43) is None
    assert await app.staff_access.session(None) is None

    # The same id, read by a process whose ANTREAN_STAFF no longer gives that role.
    demoted = StaffAccess(redis, app.office, clock, lambda identity: None)
    assert await demoted.session(signed.session_id) is None
    other_role = StaffAccess(redis, app.office, clock, lambda identity: "admin")
    assert await other_role.session(signed.session_id) is None

    clock.set(midnight - timedelta(seconds=1))
    assert await app.staff_access.session(signed.session_id) is not None
    clock.set(midnight)
    assert await app.staff_access.session(signed.session_id) is None


async def test_a_link_of_someone_no_longer_staff_opens_nothing(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    token = await issued(app, "telegram:777", "officer")  # not in ANTREAN_STAFF
    peeked = await app.staff_access.peek(token)
    assert isinstance(peeked, Refused) and peeked.reason == "not_staff"
    outcome = await app.staff_access.sign_in(token)
    assert isinstance(outcome, Refused) and outcome.reason == "not_staff"
    assert [k async for k in redis.scan_iter("*web-session*")] == []


async def test_sign_out_ends_the_session(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make(redis, clock, tmp_path)
    signed = await app.staff_access.sign_in(await issued(app, "console:admin", "admin"))
    assert isinstance(signed, SignedIn)
    await app.staff_access.sign_out(signed.session_id)
    assert await app.staff_access.session(signed.session_id) is None
    assert [k async for k in redis.scan_iter("*web-session*")] == []


def test_identities_are_shown_masked() -> None:
    assert mask_identity("whatsapp:6281234567890") == "whatsapp:62…90"
    assert mask_identity("telegram:5550001") == "telegram:55…01"
    assert mask_identity("console:admin") == "console:a…"
