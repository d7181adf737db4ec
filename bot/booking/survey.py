"""The satisfaction survey's answers in Redis (issue #15, step 6; the computation is
:mod:`bot.booking.ikm`).

Per office and day (the booking's day, the day it was served), in the office's ``{o:<office>}``
slot: one hash of the respondents and the sum of each element's scores
(:meth:`OfficeKeys.ikm`), and a list of the newest :data:`KEPT_COMMENTS` comments
(:meth:`OfficeKeys.ikm_comments`), each at most :data:`MAX_COMMENT` characters with anything
that looks like a NIK (16 digits) blotted out. A whole answer is recorded by :data:`RECORD`, one
script: only for a booking that was served, by the booking's own account, once (the booking
hash's ``surveyed`` field says it was). Both keys expire :data:`SURVEY_RETENTION` after the day:
long enough for a quarter's report (IKM is usually reported per quarter or semester) to be
copied from the staff page, and a survey hash is a dozen fields.

No individual answer is kept: only sums, so the page shows nothing that tells one applicant's
scores (the comments carry no booking, account or number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.booking.ikm import COUNT, Index, check_scores, index
from bot.booking.replies import text as _text
from bot.booking.seats import Booking
from bot.core.clock import Clock, ms
from bot.core.i18n import Catalog
from bot.core.messages import Option
from bot.errors import StorageError
from bot.infra.keys import OfficeKeys, SessionKeys

# How long /survei (typed) still finds the survey the user was last invited to.
INVITE_TTL = timedelta(days=7)
# The survey keys of a day vanish this long after the day (at 00:00 UTC): 13 weeks, a quarter.
SURVEY_RETENTION = timedelta(weeks=13)
# Comments kept per office and day (the newest), and the length of each.
KEPT_COMMENTS = 200
MAX_COMMENT = 500
# Sixteen digits, possibly grouped by spaces, dots or dashes: a NIK typed into a comment.
_NIK_LIKE = re.compile(r"(?<!\d)\d(?:[\s.\-]*\d){15}(?!\d)")
BLOTTED = "[NIK]"

# Record one applicant's whole survey.
#   KEYS[1] the booking's hash  KEYS[2] the day's survey hash  KEYS[3] the day's comments
#   ARGV[1] the account answering  ARGV[2] the booking's day (ISO)  ARGV[3] now (ms)
#   ARGV[4] expiry of the survey keys (ms, PEXPIREAT)  ARGV[5] the comment as JSON ('' for none)
#   ARGV[6] comments kept  ARGV[7..15] the nine scores (1-4), in element order
# Returns 'OK' | 'gone' (no such booking) | 'not_yours' | 'not_served' | 'done' (surveyed
# before). A refusal writes nothing.
RECORD = """
local b = redis.call('HMGET', KEYS[1], 'account', 'status', 'day', 'surveyed')
if not b[1] then return 'gone' end
if b[1] ~= ARGV[1] then return 'not_yours' end
if b[2] ~= 'served' or b[3] ~= ARGV[2] then return 'not_served' end
if b[4] then return 'done' end
for i = 7, 15 do
  local score = tonumber(ARGV[i])
  if score == nil or score < 1 or score > 4 or score % 1 ~= 0 then
    return redis.error_reply('score ' .. (i - 6) .. ' is not 1-4')
  end
end
redis.call('HSET', KEYS[1], 'surveyed', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'n', 1)
for i = 7, 15 do
  redis.call('HINCRBY', KEYS[2], 'u' .. (i - 6), tonumber(ARGV[i]))
end
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[5])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
  redis.call('PEXPIREAT', KEYS[3], ARGV[4])
end
return 'OK'
"""
RECORDED, GONE, NOT_YOURS, NOT_SERVED, DONE = "OK", "gone", "not_yours", "not_served", "done"

# The invitation's buttons work at any step of the conversation (a link: bot/core/dialog.py,
# Steps.link): "ikm:go:<office>:<booking id>" takes the survey, "ikm:no:..." declines it (at most
# 7 + 32 + 1 + 6 characters: a button carries it as it is).
LINK = "ikm"
TAKE, DECLINE = "go", "no"


def invitation(
    catalog: Catalog, locale: str, office_id: str, booking: Booking
) -> tuple[str, tuple[Option, ...]]:
    """The thank-you after ``booking`` was served, and its two buttons."""
    text = catalog.t(locale, "ikm.invite", number=booking.queue_number)
    about = f"{office_id}:{booking.id}"
    return text, (
        Option(f"{LINK}:{TAKE}:{about}", catalog.t(locale, "ikm.take")),
        Option(f"{LINK}:{DECLINE}:{about}", catalog.t(locale, "ikm.decline")),
    )


def clean_comment(raw: str) -> str:
    """A comment as kept: stripped, NIK-like digit runs blotted out, at most
    :data:`MAX_COMMENT` characters."""
    text = _NIK_LIKE.sub(BLOTTED, raw.strip())
    return text[:MAX_COMMENT].strip()


async def note_invited(
    redis: aioredis.Redis, account: str, office_id: str, booking_id: str
) -> None:
    """Remember that ``account`` was invited to the survey about ``booking_id`` (for /survei)."""
    try:
        await redis.set(
            SessionKeys(account).survey,
            f"{office_id}:{booking_id}",
            px=int(INVITE_TTL.total_seconds() * 1000),
        )
    except RedisError as exc:
        raise StorageError(f"survey invitation: {exc}") from exc


async def invited(redis: aioredis.Redis, account: str) -> tuple[str, str] | None:
    """The office and booking ``account`` was last invited to survey, if still known."""
    try:
        raw = await redis.get(SessionKeys(account).survey)
    except RedisError as exc:
        raise StorageError(f"survey invitation: {exc}") from exc
    if raw is None:
        return None
    office_id, _, booking_id = _text(raw).partition(":")
    return office_id, booking_id


@dataclass(frozen=True, slots=True)
class Comment:
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class DaySurvey:
    """One office-day's survey: the index (None: nobody answered) and the newest comments."""

    day: date
    index: Index | None
    comments: tuple[Comment, ...]


class Surveys:
    """The satisfaction survey of one office."""

    def __init__(self, redis: aioredis.Redis, office_id: str, clock: Clock) -> None:
        self._redis = redis
        self._office = office_id
        self._clock = clock
        self._keys = OfficeKeys(office_id)
        self._record = redis.register_script(RECORD)

    async def record(
        self, booking_id: str, *, account: str, day: date, scores: Sequence[int], comment: str
    ) -> str:
        """Record ``account``'s answer about their booking ``booking_id`` of ``day``: one of
        :data:`RECORDED`, :data:`GONE`, :data:`NOT_YOURS`, :data:`NOT_SERVED`, :data:`DONE`."""
        checked = check_scores(scores)
        now = self._clock.now()
        kept = clean_comment(comment)
        entry = json.dumps({"at": ms(now), "text": kept}, ensure_ascii=False) if kept else ""
        iso = day.isoformat()
        expiry = datetime.combine(day, time(), tzinfo=UTC) + SURVEY_RETENTION
        try:
            reply = await self._record(
                keys=[
                    self._keys.booking(booking_id),
                    self._keys.ikm(iso),
                    self._keys.ikm_comments(iso),
                ],
                args=[account, iso, ms(now), ms(expiry), entry, KEPT_COMMENTS, *checked],
            )
        except RedisError as exc:
            raise StorageError(f"survey of {self._office}: {exc}") from exc
        return _text(reply)

    async def check(self, booking_id: str, *, account: str) -> tuple[str, date | None]:
        """Whether ``account`` may answer the survey about ``booking_id`` now, as :data:`RECORD`
        would decide it (one read, nothing written), and the booking's day."""
        key = self._keys.booking(booking_id)
        try:
            values = await self._redis.hmget(key, "account", "status", "day", "surveyed")
        except RedisError as exc:
            raise StorageError(f"survey of {self._office}: {exc}") from exc
        owner, status, day, surveyed = (None if v is None else _text(v) for v in values)
        if owner is None or day is None:
            return GONE, None
        when = date.fromisoformat(day)
        if owner != account:
            return NOT_YOURS, when
        if status != "served":
            return NOT_SERVED, when
        return (DONE if surveyed is not None else RECORDED), when

    async def day(self, day: date, comments: int = 20) -> DaySurvey:
        """``day``'s survey: sums and the newest ``comments`` comments, in one round trip."""
        iso = day.isoformat()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._keys.ikm(iso))
                if comments > 0:
                    pipe.lrange(self._keys.ikm_comments(iso), 0, comments - 1)
                sums, *rest = await pipe.execute()
        except RedisError as exc:
            raise StorageError(f"survey of {self._office}: {exc}") from exc
        fields = {_text(k): int(v) for k, v in dict(sums or {}).items()}
        found = index([fields.get(f"u{n}", 0) for n in range(1, COUNT + 1)], fields.get("n", 0))
        kept = []
        for entry in rest[0] if rest else []:
            value = json.loads(entry)
            at = datetime.fromtimestamp(int(value["at"]) / 1000, tz=UTC)
            kept.append(Comment(at, str(value["text"])))
        return DaySurvey(day, found, tuple(kept))
