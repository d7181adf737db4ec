"""Every outbound Bot API call counts in the shared pacing buckets (issue #12, finding 4): taps
that only edit a keyboard (a page turn, a stale keyboard taken away) are platform calls too, and
100 of them must slow a broadcast down as 100 replies would."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from bot.core.clock import ManualClock, ms
from bot.core.engine import Engine
from bot.core.pacing import Pacer, channel_key, recipient_key
from bot.web import build_web_app
from channels.telegram import TelegramChannel
from channels.telegram.render import NAV_PREFIX
from channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from handlers import build_steps
from tests.channels.drivers.telegram import WEBHOOK_SECRET, callback_update
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.support import make_app
from tests.web_support import run_server

CHAT = 8_700_001
TAPS = 100


async def test_keyboard_edits_of_one_hundred_taps_count_in_the_buckets(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    fake = FakeTelegram()
    async with run_server(fake.app()) as api_base, aiohttp.ClientSession() as http:
        app = make_app(
            redis,
            clock,
            tmp_path,
            telegram_token=TOKEN,
            telegram_api_base=api_base,
            telegram_webhook_secret=WEBHOOK_SECRET,
        )
        pacer = Pacer.from_settings(app.settings, redis, clock)
        channel = TelegramChannel.from_settings(app.settings, redis=redis, pacer=pacer)
        engine = Engine(app, build_steps(), {"telegram": channel})
        async with run_server(build_web_app(app, engine, [channel])) as base:
            for _ in range(TAPS):
                # A page arrow under a keyboard that is not the latest: Telegram is asked to
                # take the keyboard away, and the engine never sees the tap.
                update = callback_update(f"{NAV_PREFIX}1", 999, CHAT)
                async with http.post(
                    base + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
                ) as response:
                    assert response.status == 200
    assert len(fake.of("editMessageReplyMarkup")) == TAPS
    now = ms(clock.now())
    # The clock stands still: each counted call moved each bucket's tat on by one interval.
    bot_wide = float(await redis.hget(channel_key("telegram"), "tat") or now)
    one_chat = float(await redis.hget(recipient_key("telegram", str(CHAT)), "tat") or now)
    assert round((bot_wide - now) / (1000 / app.settings.telegram_rate)) == TAPS
    assert round((one_chat - now) / 1000) == TAPS


async def test_the_keyboard_a_tap_removes_counts_with_the_taps_turn(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    # Taps the engine runs (and, past the rate limit, taps it refuses): every Bot API call made
    # for them, keyboard removals included, is counted once in the buckets, the removals riding
    # with the turn's save (issue #17) or, with no turn to carry them, written at once.
    fake = FakeTelegram()
    taps = 25  # past the rate limit's burst of 15
    async with run_server(fake.app()) as api_base, aiohttp.ClientSession() as http:
        app = make_app(
            redis,
            clock,
            tmp_path,
            telegram_token=TOKEN,
            telegram_api_base=api_base,
            telegram_webhook_secret=WEBHOOK_SECRET,
            rate_limit_per_minute=20,
        )
        pacer = Pacer.from_settings(app.settings, redis, clock)
        channel = TelegramChannel.from_settings(app.settings, redis=redis, pacer=pacer)
        engine = Engine(app, build_steps(), {"telegram": channel})
        async with run_server(build_web_app(app, engine, [channel])) as base:
            for n in range(taps):
                update = callback_update("book", 500 + n, CHAT)
                async with http.post(
                    base + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
                ) as response:
                    assert response.status == 200
    assert len(fake.of("editMessageReplyMarkup", CHAT)) == taps
    calls = len([c for c in fake.calls if c.params.get("chat_id") == str(CHAT)])
    now = ms(clock.now())
    one_chat = float(await redis.hget(recipient_key("telegram", str(CHAT)), "tat") or now)
    assert round((one_chat - now) / 1000) == calls
