"""WhatsApp's webhook: Meta's subscription check, and the signed POSTs that carry users' messages
(each an :class:`~bot.core.messages.Inbound` keyed by its ``wamid``, so that Meta's redeliveries
are dropped by the engine) and delivery statuses (kept per message; a late refusal of free-form
text outside the 24-hour window sends the notice's template instead)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from redis.exceptions import RedisError

from bot.core.channel import Handle, deliver
from bot.core.clock import ms
from bot.core.messages import ACTION, LOCATION, Inbound
from bot.infra.keys import ChannelKeys
from bot.infra.logs import anon
from channels.webhook import BodyBudget, read_body
from channels.whatsapp import payload as whatsapp_payload
from channels.whatsapp.graph import OUTSIDE_WINDOW
from channels.whatsapp.payload import Message, Status
from channels.whatsapp.render import MORE_PREFIX

if TYPE_CHECKING:
    from channels.whatsapp.channel import WhatsAppChannel

log = logging.getLogger(__package__)

PATH = "/webhook/whatsapp"
# Meta's messages webhooks are a few KiB: one text of 4096 characters, \u-escaped, is under 30 KiB,
# and a batch of a thousand statuses (with pricing) under 600 KiB. The body must be read before its
# signature can be checked, so this is also what an unauthenticated client can make us hold.
MAX_BODY_BYTES = 1024 * 1024
# Unsigned bytes one process holds at once while their bodies arrive: 32 bodies of the largest
# size, or thousands of real ones (they arrive in milliseconds). Past it: 503, Meta retries.
BODIES_IN_FLIGHT = BodyBudget(32 * MAX_BODY_BYTES)
DELIVERY_TTL = 7 * 86400
# Meta does not promise to deliver statuses in order ("read" may come before "delivered", or
# without it): a status only replaces one of a lower rank, so the hash keeps the furthest state.
# Unknown states rank 0 and never hide a known one.
#   KEYS[1] the user's delivery hash   ARGV[1] wamid   ARGV[2] state   ARGV[3] TTL (s)
RECORD_STATUS = """
local rank = {sent = 1, delivered = 2, read = 3, failed = 4}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or (rank[ARGV[2]] or 0) >= (rank[old] or 0) then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def parse_message(message: Message) -> tuple[str, str | None] | None:
    """(text, option) of a message the dialog understands, or None for any other kind."""
    return message.read()


def routes(channel: WhatsAppChannel, handle: Handle) -> list[web.RouteDef]:
    """Meta's subscription check (GET) and the messages webhook (POST)."""

    async def verify(request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode(), channel.verify_token.encode()
        ):
            return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
        return web.Response(status=403)

    async def post(request: web.Request) -> web.Response:
        return await receive(channel, request, handle)

    return [web.get(PATH, verify), web.post(PATH, post)]


async def receive(channel: WhatsAppChannel, request: web.Request, handle: Handle) -> web.Response:
    """One webhook POST: its signature checked, then its statuses and messages handled; the
    worst status among them is the answer (503 asks Meta to deliver the whole body again)."""
    body = await read_body(
        request, MAX_BODY_BYTES, within=channel.read_timeout, budget=channel.bodies
    )
    if isinstance(body, web.Response):
        return body
    # Authenticate the raw bytes before looking at them: nothing unsigned reaches the parser.
    if not signature_ok(channel.app_secret, body, request.headers.get("X-Hub-Signature-256")):
        return web.Response(status=403)
    try:
        values = whatsapp_payload.parse(body)
    except ValueError:
        # Not JSON, not the envelope, a field we read of the wrong type, a lone surrogate...
        # Nothing of it was acted on.
        return web.Response(status=400)
    by_user: dict[str, list[Message]] = {}
    statuses: list[Status] = []
    for value in values:
        for error in value.errors:
            # Errors about the app or the number rather than one message (e.g. a webhook
            # Meta could not deliver): nothing to answer, but someone must look. Code and
            # title only: the details may quote anything.
            log.error("WhatsApp reported an error: code %s (%s)", error.code, error.title)
        statuses.extend(s for s in value.statuses if s.recipient_id)
        for message in value.messages:
            by_user.setdefault(message.from_, []).append(message)
    # One user's messages in order; different users at the same time.
    results = await asyncio.gather(
        *(status_of(channel, status) for status in statuses),
        *(user_messages(channel, handle, wa_id, msgs) for wa_id, msgs in by_user.items()),
    )
    return web.Response(status=max([200, *results]))


async def status_of(channel: WhatsAppChannel, status: Status) -> int:
    """A delivery receipt: kept as the message's delivery state, never shown to the dialog.
    A ``failed`` 131047 of a free-form notice sends its template instead."""
    assert status.recipient_id is not None
    wa_id = status.recipient_id
    wamid = status.id or ""
    state = status.status
    who = anon(f"whatsapp:{wa_id}")
    if wamid and state:
        try:
            await channel._record_status(
                keys=[ChannelKeys(channel.name, wa_id).delivery], args=[wamid, state, DELIVERY_TTL]
            )
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, asking Meta to redeliver: %s", exc)
            return 503
    if state != "failed":
        log.debug("message %s to user %s: %s", wamid, who, state)
        return 200
    codes = [error.code for error in status.errors]
    if OUTSIDE_WINDOW not in codes:
        log.warning("message to user %s failed: %s", who, codes)
        return 200
    log.warning("message to user %s refused: outside the 24-hour window", who)
    return await channel._send_fallback(wa_id, wamid)


async def user_messages(
    channel: WhatsAppChannel, handle: Handle, wa_id: str, messages: list[Message]
) -> int:
    worst = 200
    for message in messages:
        worst = max(worst, await message_of(channel, handle, wa_id, message))
    return worst


async def message_of(channel: WhatsAppChannel, handle: Handle, wa_id: str, message: Message) -> int:
    wamid = message.id
    try:
        await channel.redis.set(
            ChannelKeys(channel.name, wa_id).lastin, ms(channel.clock.now()), ex=2 * 86400
        )
    except (RedisError, OSError) as exc:
        log.warning("Redis unavailable, asking Meta to redeliver: %s", exc)
        return 503
    parsed = parse_message(message)
    if parsed is not None and parsed[1] is not None and parsed[1].startswith(MORE_PREFIX):
        # Paging is the list's business, carried out by act() once the engine admits the tap.
        more = Inbound("whatsapp", wa_id, wamid, option=parsed[1], kind=ACTION)
        return await deliver(handle, more)
    place = message.place()
    if place is not None:
        # A shared location: a step that asked for one reads it (the nearest offices).
        return await deliver(
            handle, Inbound("whatsapp", wa_id, wamid, kind=LOCATION, location=place)
        )
    if parsed is None:
        # Photos, voice notes, locations, stickers...: the dialog only reads text and taps,
        # but the engine answers them, so they are de-duplicated and rate-limited like text.
        inbound = Inbound("whatsapp", wa_id, wamid, kind=message.kind)
        return await deliver(handle, inbound)
    text, option = parsed
    return await deliver(handle, Inbound("whatsapp", wa_id, wamid, text=text, option=option))
