"""The Telegram channel: Bot API updates in through a webhook (or long polling), the bot's answers
out through aiogram's :class:`~aiogram.Bot`.

Only aiogram's client and types are used; the conversation itself is our engine's, so there is no
aiogram Dispatcher or FSM here. The package's modules: :mod:`~channels.telegram.render` (texts
and keyboards), :mod:`~channels.telegram.inbound` (updates to messages),
:mod:`~channels.telegram.webhook` and :mod:`~channels.telegram.polling` (the two ways in),
:mod:`~channels.telegram.session` (aiogram's HTTP session), :mod:`~channels.telegram.update` (the
update models), and this one: delivery, with Telegram's rate limits and retries.

Lists of more than :data:`~channels.telegram.render.PAGE_SIZE` options are paged when the channel
has Redis: the first page of buttons plus a navigation row. The whole list is kept in Redis for
that chat, so a tap on an arrow only swaps the message's keyboard and never reaches the engine.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, SetMyCommands, SetWebhook, TelegramMethod
from aiogram.types import BotCommand
from aiogram.utils.token import TokenValidationError
from aiohttp import web
from redis.exceptions import RedisError

from bot.core import fastjson
from bot.core.channel import Deadline, Handle, PacedChannel, left
from bot.core.messages import Choices, Inbound, Option, Outbound, Text
from bot.core.pacing import Rate
from bot.core.writes import Write, apply
from bot.errors import ChannelError, ConfigError, StorageError
from bot.infra.keys import ChannelKeys
from bot.infra.logs import anon
from bot.infra.settings import Settings
from channels.telegram.commands import COMMAND_DESCRIPTIONS, COMMANDS
from channels.telegram.inbound import ALLOWED_UPDATES
from channels.telegram.polling import poll
from channels.telegram.render import (
    MESSAGE_ID_RE,
    NAV_PREFIX,
    PAGE_SIZE,
    PAGES_TTL,
    Markup,
    dump_pages,
    keyboard,
    load_pages,
    methods,
    page_count,
    page_keyboard,
    page_number,
    send_text,
    set_keyboard,
    split_text,
)
from channels.telegram.session import JsonCall, JsonSession
from channels.telegram.webhook import SECRET_RE, WEBHOOK_PATH, receive
from channels.webhook import READ_TIMEOUT

if TYPE_CHECKING:
    from bot.core.pacing import Pacer

# The package's name, as before the split: log lines and their filters stay the same.
log = logging.getLogger(__package__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
# Which pacing bucket a 429 concerns: a conversation sends bursts to one chat (Telegram's
# per-chat limit), a broadcast one message to each of many chats (the bot-wide limit).
Pace = Literal["chat", "channel"]


class TelegramChannel(PacedChannel):
    name = "telegram"
    # Telegram keeps an update it could not deliver for at most 24 hours
    # (https://core.telegram.org/bots/api#getting-updates).
    redelivers_for = timedelta(hours=24)
    # How long a webhook body may take to arrive (channels/webhook.py).
    read_timeout = READ_TIMEOUT
    # One chat: Telegram's FAQ says "avoid sending more than one message per second" to a chat; a
    # burst of 3 lets a conversation's 2-3 replies out without delay.
    recipient_rate = Rate(1.0, 3)
    # The whole bot: Telegram's broadcast limit, 30 messages a second (ANTREAN_TELEGRAM_RATE).
    rate: float | None = 30.0

    def __init__(
        self,
        bot: Bot,
        webhook_secret: str | None,
        *,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        redis: aioredis.Redis | None = None,
        pacer: Pacer | None = None,
        timeout: float = 4.0,
        budget: float = 8.0,
        rate: float = 30.0,
    ) -> None:
        if webhook_secret is not None and not SECRET_RE.match(webhook_secret):
            raise ConfigError(
                "ANTREAN_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        self.bot = bot
        self.webhook_secret = webhook_secret
        self.sleep = sleep
        self.attempts = attempts
        self.backoff = backoff
        # Waiting longer than this inside a webhook request would make Telegram time out and
        # redeliver; we give up on the reply instead (the user's next message recovers it).
        self.max_retry_after = max_retry_after
        # One request at most ``timeout`` seconds (waiting for a pooled connection included); a
        # call with its retries at most ``budget`` unless the caller passes its own deadline.
        self.timeout = timeout
        self.budget = budget
        self.rate = rate
        # Without Redis there is nowhere to keep a list between taps: options are sent unpaged.
        self.redis = redis
        # Without a pacer, sends go out as before (a 429 is still honoured by waiting).
        self.pacer = pacer

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: aioredis.Redis | None = None, pacer: Pacer | None = None
    ) -> TelegramChannel:
        if settings.telegram_token is None:
            raise ConfigError("ANTREAN_TELEGRAM_TOKEN is not set")
        session = JsonSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_base),
            timeout=settings.platform_timeout_seconds,
            json_loads=fastjson.loads,
            json_dumps=fastjson.dumps,
        )
        try:
            bot = Bot(settings.telegram_token.get_secret_value(), session=session)
        except TokenValidationError as exc:
            raise ConfigError(
                "ANTREAN_TELEGRAM_TOKEN: not a bot token like 123456:ABC-DEF… (ask @BotFather)"
            ) from exc
        secret = settings.telegram_webhook_secret
        return cls(
            bot,
            secret.get_secret_value() if secret else None,
            redis=redis,
            pacer=pacer,
            timeout=settings.platform_timeout_seconds,
            budget=settings.send_budget,
            rate=settings.telegram_rate,
        )

    async def aclose(self) -> None:
        await self.bot.session.close()

    # -- outgoing ---------------------------------------------------------------------------

    async def _send_all(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline | None = None
    ) -> list[Write]:
        """Send; return the writes the messages leave (a paged keyboard's options)."""
        writes: list[Write] = []
        for message in messages:
            if isinstance(message, Choices):
                writes += await self._send_choices(user_id, message, deadline)
                continue
            for method in methods(user_id, message):
                await self._call(method, user_id, pace="chat", deadline=deadline)
        return writes

    async def deliver_paced(
        self,
        user_id: str,
        text: str,
        *,
        locale: str,
        pacer: Pacer | None = None,
        claim: Callable[[], Awaitable[bool]] | None = None,
    ) -> bool:
        """Send one unprompted text (a broadcast), each message waiting for its turn in the
        pacing buckets. ``claim`` is awaited after the first wait, right before the first send:
        when it answers False nothing is sent and False is returned.

        A chat that blocked the bot raises ChannelError with code ``undeliverable``.
        """
        pacer = pacer or self.pacer
        for i, method in enumerate(methods(user_id, Text(text))):
            if pacer is not None:
                await pacer.wait_turn(self.name, user_id, self.limits)
            if i == 0 and claim is not None and not await claim():
                return False
            try:
                await self._call(method, user_id, pace="channel", pacer=pacer)
            except ChannelError as exc:
                if isinstance(exc.__cause__, TelegramForbiddenError):
                    # "bot was blocked by the user", "user is deactivated": sending again is
                    # pointless until the user writes to us.
                    raise ChannelError(str(exc), code="undeliverable") from exc.__cause__
                raise
        return True

    async def _send_choices(
        self, chat_id: str, message: Choices, deadline: Deadline | None = None
    ) -> list[Write]:
        options = message.options
        paged = self.redis is not None and len(options) > PAGE_SIZE
        if paged:
            markup: Markup | None = page_keyboard(options, 0)
        else:
            markup = keyboard(options) if options else None
        pieces = split_text(message.text) or [""]
        for piece in pieces[:-1]:
            await self._call(send_text(chat_id, piece), chat_id, pace="chat", deadline=deadline)
        # The keyboard hangs off the last piece; Telegram refuses an empty text.
        last = pieces[-1] if pieces[-1].strip() else "…"
        sent = await self._call(
            send_text(chat_id, last, markup), chat_id, pace="chat", deadline=deadline
        )
        if paged:
            # If this write fails, the first page is on screen and typed numbers reach every
            # option; only the arrows are lost (a tap then removes the keyboard).
            data = dump_pages(sent.message_id, options)
            return [Write(("SET", ChannelKeys(self.name, chat_id).pages, data, "EX", PAGES_TTL))]
        return []

    @overload
    async def _call(
        self,
        method: JsonCall,
        user_id: str,
        *,
        pace: Pace | None = None,
        pacer: Pacer | None = None,
        deadline: Deadline | None = None,
    ) -> Any: ...

    @overload
    async def _call(
        self,
        method: TelegramMethod[T],
        user_id: str,
        *,
        pace: Pace | None = None,
        pacer: Pacer | None = None,
        deadline: Deadline | None = None,
    ) -> T: ...

    async def _call(
        self,
        method: TelegramMethod[T] | JsonCall,
        user_id: str,
        *,
        pace: Pace | None = None,
        pacer: Pacer | None = None,
        deadline: Deadline | None = None,
    ) -> Any:
        """One Bot API call with Telegram's rate limits honoured and transient failures retried,
        all of it over by ``deadline`` (default: :attr:`budget` from now).

        A 429 names how long this chat must wait; only this coroutine (this chat's delivery)
        waits, other chats' webhooks carry on. A wait that would pass the deadline is not
        waited: the ChannelError carries it as ``retry_after`` for whoever sends later. Retrying
        a send after a network error may duplicate a message that did arrive: better than
        losing a queue number.
        """
        name = method.api_method if isinstance(method, JsonCall) else method.__api_method__
        # A long poll (getUpdates) is meant to wait on the server for its own timeout.
        held = float(getattr(method, "timeout", None) or 0) if isinstance(method, GetUpdates) else 0
        if deadline is None:
            deadline = time.monotonic() + self.budget + held
        failures = 0
        waits = 0
        while True:
            remaining = left(deadline)
            if remaining <= 0:
                raise ChannelError(f"telegram {name}: out of time", code="timeout")
            limit = min(self.timeout + held, remaining)
            try:
                # The whole request (a free pooled connection, connecting, the answer) within
                # the limit: a slow Bot API or a full pool cannot hold a turn past its lease.
                async with asyncio.timeout(limit):
                    if isinstance(method, JsonCall):
                        return await self._send_json(method, math.ceil(limit))
                    return await self.bot(method, request_timeout=math.ceil(limit))
            except TelegramRetryAfter as exc:
                waits += 1
                await self._pause(pace, pacer or self.pacer, user_id, float(exc.retry_after))
                if (
                    waits > self.attempts
                    or exc.retry_after > self.max_retry_after
                    or exc.retry_after >= left(deadline)
                ):
                    raise ChannelError(
                        f"telegram {name}: rate limited for {exc.retry_after}s",
                        retry_after=float(exc.retry_after),
                        code="rate_limited",
                    ) from exc
                log.info(
                    "telegram %s rate limited for user %s, waiting %ss",
                    name,
                    anon(f"telegram:{user_id}"),
                    exc.retry_after,
                )
                await self.sleep(float(exc.retry_after))
            except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
                failures += 1
                backoff = self.backoff * 2 ** (failures - 1)
                if failures >= self.attempts or backoff >= left(deadline):
                    if isinstance(exc, TimeoutError):
                        reason = f"no answer within {limit:.1f}s"
                    else:
                        reason = self._redact(exc.message)
                    # Logged here, once, because only here are the method and the user known
                    # together; the chat id (personal data) goes in as a pseudonym only.
                    log.warning(
                        "telegram %s failed %d times for user %s: %s",
                        name,
                        failures,
                        anon(f"telegram:{user_id}"),
                        reason,
                    )
                    raise ChannelError(
                        f"telegram {name} failed {failures} times: {reason}",
                        retry_after=backoff,
                        code="unavailable",
                    ) from exc
                await self.sleep(backoff)
            except TelegramAPIError as exc:
                raise ChannelError(
                    f"telegram {name} refused: {self._redact(exc.message)}", code="refused"
                ) from exc
            except AiogramError as exc:
                # e.g. ClientDecodeError: something that is not the Bot API answered.
                raise ChannelError(
                    f"telegram {name}: {self._redact(str(exc))}", code="bad_response"
                ) from exc

    async def _send_json(self, call: JsonCall, timeout: int) -> Any:  # noqa: ASYNC109
        """A call written as JSON; through aiogram's model where the session is not ours."""
        if isinstance(self.bot.session, JsonSession):
            return await self.bot.session.send_json(self.bot, call, timeout=timeout)
        return await self.bot(call.as_method(), request_timeout=timeout)

    async def _pause(
        self, pace: Pace | None, pacer: Pacer | None, user_id: str, seconds: float
    ) -> None:
        """Hold back, for the time Telegram asked, only the bucket the 429 concerns."""
        if pacer is None or pace is None:
            return
        try:
            if pace == "chat":
                await pacer.pause_recipient(self.name, user_id, seconds)
            else:
                await pacer.pause_channel(self.name, seconds)
        except StorageError as exc:
            log.warning("telegram: could not pause pacing: %s", exc)

    def _redact(self, text: str) -> str:
        # The token is part of every Bot API URL, and client errors may quote the URL.
        return text.replace(self.bot.token, "<token>")

    async def _try(
        self, method: TelegramMethod[Any] | JsonCall, user_id: str, *, carry: bool = False
    ) -> list[Write]:
        """A call whose failure must not stop the user's message from being handled (a keyboard
        edit, a page turn, the reply to a sticker). Each one that reaches a chat counts in the
        pacing buckets like a reply: taps must not push the bot past the platform's limits.
        ``carry``: the count is returned, for the message's turn to save, not written here."""
        counting: list[Write] = []
        if self.pacer is not None and getattr(method, "chat_id", None) is not None:
            counting = self._counting(user_id, 1)
            if not carry:
                redis = self.redis if self.redis is not None else self.pacer.redis
                await apply(redis, counting)
                counting = []
        try:
            # One request's time at most: a courtesy must not eat into the turn that follows.
            await self._call(method, user_id, deadline=time.monotonic() + self.timeout)
        except ChannelError as exc:
            if exc.code != "unavailable":  # _call has logged that one already
                log.warning("telegram: %s", exc)
        return counting

    async def set_webhook(self, url: str, drop_pending_updates: bool = False) -> None:
        await self._call(
            SetWebhook(
                url=url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending_updates,
            ),
            "setup",
        )

    async def set_commands(self) -> None:
        # The command menu in the user's app language, Indonesian for every other language.
        for language in (*COMMAND_DESCRIPTIONS, None):
            descriptions = COMMAND_DESCRIPTIONS[language or "id"]
            commands = [BotCommand(command=c, description=descriptions[c]) for c in COMMANDS]
            await self._call(SetMyCommands(commands=commands, language_code=language), "setup")

    # -- incoming ---------------------------------------------------------------------------

    def routes(self, handle: Handle) -> list[web.RouteDef]:
        async def webhook(request: web.Request) -> web.Response:
            return await receive(self, request, handle)

        return [web.post(WEBHOOK_PATH, webhook)]

    async def poll(self, handle: Handle, stop: asyncio.Event, *, wait: int = 25) -> None:
        """Long-poll for updates instead of a webhook (``ANTREAN_TELEGRAM_MODE=polling``): for
        developers without a public URL (:func:`channels.telegram.polling.poll`)."""
        await poll(self, handle, stop, wait=wait)

    async def act(self, message: Inbound, *, deadline: Deadline | None = None) -> list[Write]:
        """A page turn (``<tapped message id>~pg:<page>``): show that page of the tapped keyboard,
        or remove the keyboard when it is not the latest one. The chat is the user's own."""
        tapped, sep, page_text = (message.option or "").partition(NAV_PREFIX)
        if not sep or not MESSAGE_ID_RE.fullmatch(tapped):
            return []
        chat_id, message_id = int(message.user_id), int(tapped)
        stored: tuple[int, list[Option]] | None = None
        if self.redis is not None:
            try:
                raw = await self.redis.get(ChannelKeys(self.name, message.user_id).pages)
            except (RedisError, OSError) as exc:
                raise StorageError(f"Redis unreachable: {exc}") from exc
            stored = load_pages(raw) if raw is not None else None
        if stored is None or stored[0] != message_id:
            # An older keyboard (its options may no longer be on offer): take it away.
            await self._try(set_keyboard(chat_id, message_id), message.user_id)
            return []
        options = stored[1]
        page = page_number(page_text)
        if page is None or page >= page_count(options):
            return []  # the "n/N" button, or a page that does not exist: nothing to change
        await self._try(
            set_keyboard(chat_id, message_id, page_keyboard(options, page)), message.user_id
        )
        return []
