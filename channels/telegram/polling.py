"""Long polling (``getUpdates``) instead of a webhook, for developers without a public URL."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram.methods import DeleteWebhook, GetUpdates

from bot.core.channel import Handle
from bot.errors import ChannelError
from channels.telegram import update as telegram_update
from channels.telegram.inbound import ALLOWED_UPDATES, callback_answer, dispatch

if TYPE_CHECKING:
    from channels.telegram.channel import TelegramChannel

log = logging.getLogger(__package__)


async def poll(
    channel: TelegramChannel, handle: Handle, stop: asyncio.Event, *, wait: int = 25
) -> None:
    """Long-poll for updates (``ANTREAN_TELEGRAM_MODE=polling``) until ``stop`` is set. Run one
    polling process per bot token.

    An update is only skipped (the offset moved past it) once it was handled; while Redis is
    down it is tried again, so nothing is lost.
    """
    # getUpdates is refused while a webhook is set.
    await channel._call(DeleteWebhook(drop_pending_updates=False), "-")
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await channel._call(
                GetUpdates(offset=offset, timeout=wait, allowed_updates=ALLOWED_UPDATES),
                "-",
            )
        except ChannelError as exc:
            log.warning("telegram polling: %s", exc)
            await channel.sleep(channel.backoff * 4)
            continue
        for raw in updates:
            try:
                update = telegram_update.from_data(
                    raw.model_dump(mode="json", by_alias=True, exclude_none=True)
                )
            except telegram_update.ValidationError as exc:
                # What the webhook would answer 400: never handled, so never retried.
                log.warning("telegram polling: update %s skipped: %s", raw.update_id, exc)
                offset = raw.update_id + 1
                continue
            while (answered := await dispatch(channel, update, handle))[0] == 503:
                if stop.is_set():
                    return
                await channel.sleep(1.0)
            if answered[1] is not None and update.callback_query is not None:
                # No webhook answer to carry it when polling: make the call ourselves.
                user_id = str(update.callback_query.from_user.id)
                await channel._try(callback_answer(answered[1]), user_id)
            offset = update.update_id + 1
