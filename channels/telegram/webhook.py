"""Telegram's webhook: a POST per update, authenticated by the secret token Telegram echoes in a
header (set with ``setWebhook``), bounded in size and time, parsed strictly
(:mod:`channels.telegram.update`) and handed to :func:`channels.telegram.inbound.dispatch`."""

from __future__ import annotations

import hmac
import re
from typing import TYPE_CHECKING

from aiohttp import web

from bot.core import fastjson
from bot.core.channel import Handle
from channels.telegram import update as telegram_update
from channels.telegram.inbound import dispatch
from channels.webhook import read_body, refuse

if TYPE_CHECKING:
    from channels.telegram.channel import TelegramChannel

WEBHOOK_PATH = "/webhook/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few KiB; anything near this is not from Telegram.
MAX_BODY = 1024 * 1024
# What the Bot API accepts as secret_token.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


async def receive(channel: TelegramChannel, request: web.Request, handle: Handle) -> web.Response:
    given = request.headers.get(SECRET_HEADER)
    if given is None:
        return web.Response(status=401, text="missing secret token")
    if channel.webhook_secret is None or not hmac.compare_digest(
        given.encode(), channel.webhook_secret.encode()
    ):
        # No secret configured: the webhook is closed rather than open to anyone.
        return web.Response(status=403, text="wrong secret token")
    if request.content_type != "application/json":
        return await refuse(request, 415, "expected application/json")
    body = await read_body(request, MAX_BODY, within=channel.read_timeout)
    if isinstance(body, web.Response):
        return body
    try:
        update = telegram_update.parse(body)
    except telegram_update.ValidationError:
        # Not JSON, not an Update, a field we read of the wrong type, a lone surrogate...
        return web.Response(status=400, text="not an Update")
    status, call = await dispatch(channel, update, handle)
    if status == 200 and call is not None:
        return web.json_response(call, dumps=fastjson.dumps)
    return web.Response(status=status)
