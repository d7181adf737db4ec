"""Which channels a process serves, chosen by which tokens are configured."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.channel import Channel
from bot.core.clock import Clock
from bot.infra.settings import Settings


def configured_channels(settings: Settings, redis: aioredis.Redis, clock: Clock) -> list[Channel]:
    """Every channel with a token set; none means the console is the only way in.

    They share one pacer: every process's sends count in the same Redis buckets.
    """
    from bot.core.pacing import Pacer

    pacer = Pacer.from_settings(settings, redis, clock)
    channels: list[Channel] = []
    if settings.telegram_token is not None:
        from channels.telegram import TelegramChannel

        channels.append(TelegramChannel.from_settings(settings, redis=redis, pacer=pacer))
    if settings.whatsapp_token is not None:
        from channels.whatsapp import WhatsAppChannel

        channels.append(WhatsAppChannel.from_settings(settings, redis, clock, pacer=pacer))
    return channels
