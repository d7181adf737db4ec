"""The satisfaction survey's answers in Redis (bot/booking/survey.py): one script records a whole
answer, only for a served booking, by its own account, once however many race; sums, comments
and expiry per office-day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.booking import survey
from bot.booking.app import App
from bot.booking.seats import Booking
from bot.booking.survey import (
    BLOTTED,
    DONE,
    GONE,
    KEPT_COMMENTS,
    MAX_COMMENT,
    NOT_SERVED,
    NOT_YOURS,
    RECORDED,
    SURVEY_RETENTION,
    clean_comment,
)
from bot.core.clock import ManualClock, ms
from bot.infra.keys import OfficeKeys
from tests.bot.booking.test_calls import book_today
from tests.support import make_app

STAFF = "console:desk"
GOOD = [4, 3, 3, 4, 3, 4, 4, 2, 3]


@pytest.fixture
def survey_app(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path) -> App:
    return make_app(redis, clock, tmp_path, staff=f"{STAFF}=officer")


async def served_today(app: App, count: int) -> list[Booking]:
    """``count`` bookings of today, each checked in, called and served at counter 1."""
    bookings = await book_today(app, count)
    for booking in bookings:
        await app.desk.check_in(booking.id, staff=STAFF)
        await app.desk.call_next(1, staff=STAFF)
        await app.desk.served(1, staff=STAFF)
    return bookings


async def test_a_served_booking_is_surveyed_once_by_its_account(survey_app: App) -> None:
    app = survey_app
    surveys = app.desk.surveys
    first, second = await served_today(app, 2)
    [waiting] = await book_today(app, 1)
    day = first.day
    record = surveys.record
    assert await surveys.check(first.id, account=first.account) == (RECORDED, day)
    assert await record(first.id, account="console:else", day=day, scores=GOOD, comment="") == (
        NOT_YOURS
    )
    assert await record(waiting.id, account=waiting.account, day=day, scores=GOOD, comment="") == (
        NOT_SERVED
    )
    assert await record("NOSUCH", account=first.account, day=day, scores=GOOD, comment="") == GONE
    assert (await surveys.day(day)).index is None  # refusals wrote nothing
    ok = await record(first.id, account=first.account, day=day, scores=GOOD, comment="Bagus")
    assert ok == RECORDED
    again = await record(first.id, account=first.account, day=day, scores=[1] * 9, comment="x")
    assert again == DONE
    assert await surveys.check(first.id, account=first.account) == (DONE, day)
    low = [1, 2, 1, 2, 1, 2, 1, 2, 1]
    assert await record(second.id, account=second.account, day=day, scores=low, comment="") == (
        RECORDED
    )
    found = (await surveys.day(day)).index
    assert found is not None and found.respondents == 2
    assert found.sums == tuple(a + b for a, b in zip(GOOD, low, strict=True))
    assert [c.text for c in (await surveys.day(day)).comments] == ["Bagus"]


async def test_a_booking_surveyed_by_many_racing_answers_counts_once(survey_app: App) -> None:
    app = survey_app
    [booking] = await served_today(app, 1)
    outcomes = await asyncio.gather(
        *(
            app.desk.surveys.record(
                booking.id, account=booking.account, day=booking.day, scores=GOOD, comment=str(i)
            )
            for i in range(20)
        )
    )
    assert sorted(outcomes) == [RECORDED] + [DONE] * 19
    day = await app.desk.surveys.day(booking.day)
    assert day.index is not None and day.index.respondents == 1
    assert day.index.sums == tuple(GOOD)
    assert len(day.comments) == 1


async def test_comments_are_capped_trimmed_and_blot_a_nik(
    survey_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = survey_app
    monkeypatch.setattr(survey, "KEPT_COMMENTS", 2)
    assert clean_comment("  NIK saya 3171 0115 0885 0001 tolong  ") == f"NIK saya {BLOTTED} tolong"
    assert clean_comment("3171011508850001") == BLOTTED
    assert clean_comment("antre 45 menit, loket 3") == "antre 45 menit, loket 3"
    assert len(clean_comment("x" * 5000)) == MAX_COMMENT
    bookings = await served_today(app, 3)
    for i, booking in enumerate(bookings):
        await app.desk.surveys.record(
            booking.id,
            account=booking.account,
            day=booking.day,
            scores=GOOD,
            comment=f"komentar {i} 3171011508850001",
        )
    day = await app.desk.surveys.day(bookings[0].day)
    # The newest two (the cap), newest first.
    assert [c.text for c in day.comments] == [f"komentar {i} {BLOTTED}" for i in (2, 1)]
    # Nothing of the NIK anywhere in Redis.
    for key in await app.redis.keys("*"):
        kind = await app.redis.type(key)
        if kind == "string":
            assert "3171011508850001" not in str(await app.redis.get(key))
        elif kind == "list":
            assert "3171011508850001" not in str(await app.redis.lrange(key, 0, -1))
    assert KEPT_COMMENTS == 200


async def test_the_days_keys_expire_weeks_after_the_day(survey_app: App) -> None:
    app = survey_app
    [booking] = await served_today(app, 1)
    await app.desk.surveys.record(
        booking.id, account=booking.account, day=booking.day, scores=GOOD, comment="ok"
    )
    keys = OfficeKeys(app.office.id)
    iso = booking.day.isoformat()
    expiry = ms(datetime.combine(booking.day, time(), tzinfo=UTC) + SURVEY_RETENTION)
    assert await app.redis.pexpiretime(keys.ikm(iso)) == expiry
    assert await app.redis.pexpiretime(keys.ikm_comments(iso)) == expiry
    assert SURVEY_RETENTION.days == 91
