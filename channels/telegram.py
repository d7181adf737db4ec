"""The Telegram channel: Bot API updates in through a webhook, the bot's answers out through
aiogram's :class:`~aiogram.Bot`.

Only aiogram's client and types are used; the conversation itself is our engine's, so there is no
aiogram Dispatcher or FSM here. Options become inline-keyboard buttons whose callback data is the
option's :func:`~bot.core.messages.option_token` (the id, or a short hash of a long one: the Bot API
caps callback data at 64 bytes). Typed numbers and titles work as on every other channel.

Lists of more than :data:`PAGE_SIZE` options are paged when the channel has Redis: the first page
of buttons plus a navigation row. The whole list is kept in Redis for that chat, so a tap on an
arrow only swaps the message's keyboard and never reaches the engine.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetUpdates,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiogram.utils.token import TokenValidationError
from aiohttp import web
from redis.exceptions import RedisError

from bot.core.channel import Deadline, Handle, PacedChannel, deliver, left
from bot.core.messages import ACTION, Choices, Image, Inbound, Option, Outbound, Text, option_token
from bot.core.writes import Write, apply
from bot.errors import ChannelError, ConfigError, StorageError
from bot.infra.keys import PREFIX
from bot.infra.logs import anon
from bot.infra.settings import Settings
from channels import telegram_update
from channels.telegram_session import JsonSession
from channels.webhook import READ_TIMEOUT, read_body, refuse

if TYPE_CHECKING:
    from bot.core.pacing import Pacer

log = logging.getLogger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
# Which pacing bucket a 429 concerns: a conversation sends bursts to one chat (Telegram's
# per-chat limit), a broadcast one message to each of many chats (the bot-wide limit).
Pace = Literal["chat", "channel"]

WEBHOOK_PATH = "/webhook/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few KiB; anything near this is not from Telegram.
MAX_BODY = 1024 * 1024
MAX_TEXT = 4096  # sendMessage text, in UTF-16 code units
MAX_CAPTION = 1024  # sendPhoto caption
MAX_CALLBACK_DATA = 64  # bytes of UTF-8; option_token() stays well below it
# Option buttons per keyboard page: a phone screen's worth, so the navigation row stays in view.
PAGE_SIZE = 8
# Callback data of the navigation buttons. Option ids are dates, slot ids and words, and long ones
# travel as "#<hash>", so nothing the engine offers starts with "~".
NAV_PREFIX = "~pg:"
# The middle "n/N" button: it must carry callback data, but leads nowhere.
NAV_NOOP = NAV_PREFIX + "-"
PAGE_RE = re.compile(r"[0-9]{1,4}")
MESSAGE_ID_RE = re.compile(r"[0-9]{1,15}")
# The navigation arrows, single angle quotation marks (escaped: they pass for < and > in code).
PREV = "\u2039"
NEXT = "\u203a"
# Long enough for a user who returns to the list later that day; then the key goes by itself.
PAGES_TTL = 86400
ALLOWED_UPDATES = ["message", "callback_query"]
# A webhook answer may carry one Bot API call, which Telegram then makes for us (its result is
# never known): the callback-query answer, which only stops the button's spinner, goes that way.
# The reply to a webhook is an update's status and, for callback queries, that call.
Answered = tuple[int, dict[str, Any] | None]
# What the Bot API accepts as secret_token.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
COMMANDS = ("start", "menu", "help", "language")
# The engine understands these words in both languages; the slash commands map onto them.
COMMAND_WORDS = {"help": "help", "language": "language", "start": "start", "menu": "menu"}
COMMAND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "id": {
        "start": "Mulai dari awal",
        "menu": "Menu utama",
        "help": "Bantuan",
        "language": "Ganti bahasa",
    },
    "en": {
        "start": "Start over",
        "menu": "Main menu",
        "help": "Help",
        "language": "Change language",
    },
}


def utf16_len(text: str) -> int:
    """Telegram measures text length in UTF-16 code units (an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into pieces Telegram accepts, on line boundaries where possible."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while utf16_len(line) > limit:
            # A single line longer than a message: cut it hard (rare: a pasted blob).
            if current:
                pieces.append(current)
                current = ""
            head = line[:limit]
            while utf16_len(head) > limit:
                head = head[:-1]
            pieces.append(head)
            line = line[len(head) :]
        candidate = f"{current}\n{line}" if current else line
        if current and utf16_len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def callback_data(option: Option) -> str:
    # The engine resolves the token back to the id against the options on offer.
    return option_token(option.id)


def button_text(option: Option) -> str:
    return f"{option.title} ({option.description})" if option.description else option.title


def option_rows(options: Sequence[Option]) -> list[list[InlineKeyboardButton]]:
    # One button per row: titles (dates, office services) are too long to sit side by side.
    return [
        [InlineKeyboardButton(text=button_text(o), callback_data=callback_data(o))] for o in options
    ]


def keyboard(options: Sequence[Option]) -> InlineKeyboardMarkup:
    """Every option, unpaged."""
    return InlineKeyboardMarkup(inline_keyboard=option_rows(options))


def page_count(options: Sequence[Option]) -> int:
    return max(1, math.ceil(len(options) / PAGE_SIZE))


def page_keyboard(options: Sequence[Option], page: int) -> InlineKeyboardMarkup:
    """Page ``page`` (0-based) of ``options``, with a navigation row when there is more than one
    page. Only arrows that lead somewhere are shown."""
    pages = page_count(options)
    rows = option_rows(options[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
    if pages > 1:
        nav: list[InlineKeyboardButton] = []
        if page > 0:
            nav.append(InlineKeyboardButton(text=PREV, callback_data=f"{NAV_PREFIX}{page - 1}"))
        nav.append(InlineKeyboardButton(text=f"{page + 1}/{pages}", callback_data=NAV_NOOP))
        if page < pages - 1:
            nav.append(InlineKeyboardButton(text=NEXT, callback_data=f"{NAV_PREFIX}{page + 1}"))
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def pages_key(chat_id: str) -> str:
    """Where a chat's paged option list is kept: in the user's ``{u:<identity>}`` hash tag, so
    Redis Cluster puts it in the same slot as the user's session keys
    (bot.infra.keys.SessionKeys)."""
    return f"{PREFIX}:{{u:telegram:{chat_id}}}:pages"


def dump_pages(message_id: int, options: Sequence[Option]) -> str:
    return json.dumps(
        {
            "message_id": message_id,
            "options": [
                {"id": o.id, "title": o.title, "description": o.description} for o in options
            ],
        }
    )


def load_pages(raw: str | bytes) -> tuple[int, list[Option]] | None:
    """The stored (message id, options), or None for anything unreadable (treated as nothing
    stored: the tapped keyboard is removed and the user can still type)."""
    try:
        data = json.loads(raw)
        options = [
            Option(str(o["id"]), str(o["title"]), str(o.get("description", "")))
            for o in data["options"]
        ]
        return int(data["message_id"]), options
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def page_number(text: str) -> int | None:
    """The page a navigation button names: ASCII digits only (``str.isdigit`` also accepts "²"
    and "𐩀", which ``int`` refuses), and few of them."""
    return int(text) if PAGE_RE.fullmatch(text) else None


def callback_answer(call: dict[str, Any]) -> AnswerCallbackQuery:
    """The callback-query answer a webhook reply would carry, as a call of our own."""
    return AnswerCallbackQuery(callback_query_id=call["callback_query_id"])


def command_text(text: str) -> str:
    """``/start@AntreanBot payload`` → ``start``: commands are words the engine already knows."""
    if not text.startswith("/"):
        return text
    word = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text[1:].strip() else ""
    return COMMAND_WORDS.get(word, text)


class TelegramChannel(PacedChannel):
    name = "telegram"
    # Telegram keeps an update it could not deliver for at most 24 hours
    # (https://core.telegram.org/bots/api#getting-updates).
    redelivers_for = timedelta(hours=24)
    # How long a webhook body may take to arrive (channels/webhook.py).
    read_timeout = READ_TIMEOUT

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
            for method in self._methods(user_id, message):
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
        for i, method in enumerate(self._methods(user_id, Text(text))):
            if pacer is not None:
                await pacer.wait_turn(self.name, user_id)
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
            markup: InlineKeyboardMarkup | None = page_keyboard(options, 0)
        else:
            markup = keyboard(options) if options else None
        pieces = split_text(message.text) or [""]
        for piece in pieces[:-1]:
            await self._call(
                SendMessage(chat_id=chat_id, text=piece, parse_mode=None),
                chat_id,
                pace="chat",
                deadline=deadline,
            )
        # The keyboard hangs off the last piece; Telegram refuses an empty text.
        sent = await self._call(
            SendMessage(
                chat_id=chat_id,
                text=pieces[-1] if pieces[-1].strip() else "…",
                parse_mode=None,
                reply_markup=markup,
            ),
            chat_id,
            pace="chat",
            deadline=deadline,
        )
        if paged:
            # If this write fails, the first page is on screen and typed numbers reach every
            # option; only the arrows are lost (a tap then removes the keyboard).
            data = dump_pages(sent.message_id, options)
            return [Write(("SET", pages_key(chat_id), data, "EX", PAGES_TTL))]
        return []

    def _methods(self, chat_id: str, message: Text | Image) -> list[TelegramMethod[Any]]:
        # parse_mode=None always: user-supplied text (names) must never be read as markup.
        if isinstance(message, Text):
            return [
                SendMessage(chat_id=chat_id, text=piece, parse_mode=None)
                for piece in split_text(message.text)
                if piece.strip()
            ]
        photo = BufferedInputFile(message.data, filename=message.filename)
        if utf16_len(message.caption) <= MAX_CAPTION:
            return [
                SendPhoto(
                    chat_id=chat_id, photo=photo, caption=message.caption or None, parse_mode=None
                )
            ]
        return [
            SendPhoto(chat_id=chat_id, photo=photo),
            *self._methods(chat_id, Text(message.caption)),
        ]

    async def _call(
        self,
        method: TelegramMethod[T],
        user_id: str,
        *,
        pace: Pace | None = None,
        pacer: Pacer | None = None,
        deadline: Deadline | None = None,
    ) -> T:
        """One Bot API call with Telegram's rate limits honoured and transient failures retried,
        all of it over by ``deadline`` (default: :attr:`budget` from now).

        A 429 names how long this chat must wait; only this coroutine (this chat's delivery)
        waits, other chats' webhooks carry on. A wait that would pass the deadline is not
        waited: the ChannelError carries it as ``retry_after`` for whoever sends later. Retrying
        a send after a network error may duplicate a message that did arrive: better than
        losing a queue number.
        """
        name = method.__api_method__
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
        self, method: TelegramMethod[Any], user_id: str, *, carry: bool = False
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
        for language in ("id", "en", None):
            descriptions = COMMAND_DESCRIPTIONS[language or "id"]
            commands = [BotCommand(command=c, description=descriptions[c]) for c in COMMANDS]
            await self._call(SetMyCommands(commands=commands, language_code=language), "setup")

    # -- incoming ---------------------------------------------------------------------------

    def routes(self, handle: Handle) -> list[web.RouteDef]:
        async def webhook(request: web.Request) -> web.Response:
            return await self._webhook(request, handle)

        return [web.post(WEBHOOK_PATH, webhook)]

    async def _webhook(self, request: web.Request, handle: Handle) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return web.Response(status=401, text="missing secret token")
        if self.webhook_secret is None or not hmac.compare_digest(
            given.encode(), self.webhook_secret.encode()
        ):
            # No secret configured: the webhook is closed rather than open to anyone.
            return web.Response(status=403, text="wrong secret token")
        if request.content_type != "application/json":
            return await refuse(request, 415, "expected application/json")
        body = await read_body(request, MAX_BODY, within=self.read_timeout)
        if isinstance(body, web.Response):
            return body
        try:
            update = telegram_update.parse(body)
        except telegram_update.ValidationError:
            # Not JSON, not an Update, a field we read of the wrong type, a lone surrogate...
            return web.Response(status=400, text="not an Update")
        status, call = await self._update(update, handle)
        if status == 200 and call is not None:
            return web.json_response(call)
        return web.Response(status=status)

    async def poll(self, handle: Handle, stop: asyncio.Event, *, wait: int = 25) -> None:
        """Long-poll for updates instead of a webhook (``ANTREAN_TELEGRAM_MODE=polling``): for
        developers without a public URL. Run one polling process per bot token.

        An update is only skipped (the offset moved past it) once it was handled; while Redis is
        down it is tried again, so nothing is lost.
        """
        # getUpdates is refused while a webhook is set.
        await self._call(DeleteWebhook(drop_pending_updates=False), "-")
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = await self._call(
                    GetUpdates(offset=offset, timeout=wait, allowed_updates=ALLOWED_UPDATES),
                    "-",
                )
            except ChannelError as exc:
                log.warning("telegram polling: %s", exc)
                await self.sleep(self.backoff * 4)
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
                while (answered := await self._update(update, handle))[0] == 503:
                    if stop.is_set():
                        return
                    await self.sleep(1.0)
                if answered[1] is not None and update.callback_query is not None:
                    # No webhook answer to carry it when polling: make the call ourselves.
                    user_id = str(update.callback_query.from_user.id)
                    await self._try(callback_answer(answered[1]), user_id)
                offset = update.update_id + 1

    async def _update(self, update: telegram_update.Update, handle: Handle) -> Answered:
        message_id = f"u{update.update_id}"
        if update.callback_query is not None:
            query = update.callback_query
            # Always answer, or the user's app shows a spinner on the button for a while. The
            # answer rides on the webhook's reply (no request of ours), so the spinner turns
            # until the bot has answered the tap itself.
            answer = {"method": "answerCallbackQuery", "callback_query_id": query.id}
            return await self._callback(query, message_id, handle), answer
        message = update.message
        if message is None:
            # edited_message, channel posts, polls…: nothing for a queue bot to do.
            return 200, None
        if message.chat.type != "private":
            # Groups: the bot books for one person at a time, in private.
            return 200, None
        user_id = str(message.chat.id)
        locale = message.from_user.language_code if message.from_user else None
        if message.text is None:
            # A sticker, a photo, a location...: the engine answers it like any message, so it
            # is de-duplicated, rate-limited and answered once.
            inbound = Inbound(self.name, user_id, message_id, locale_hint=locale, kind=message.kind)
        else:
            text = command_text(message.text)
            inbound = Inbound(self.name, user_id, message_id, text=text, locale_hint=locale)
        return await deliver(handle, inbound), None

    async def _callback(
        self, query: telegram_update.CallbackQuery, message_id: str, handle: Handle
    ) -> int:
        user_id = str(query.from_user.id)
        tapped = query.message if query.message and query.message.accessible else None
        if query.message is not None and query.message.chat.type != "private":
            return 200
        if query.data is not None and query.data.startswith(NAV_PREFIX):
            # Paging is the keyboard's business, carried out by act() once the engine admits the
            # tap (de-duplicated, rate-limited, in order); the session and the options on offer
            # stay as they are.
            if tapped is None:
                return 200  # too old for Telegram to let us edit it
            page = Inbound(
                self.name,
                user_id,
                message_id,
                option=f"{tapped.message_id}{NAV_PREFIX}{query.data.removeprefix(NAV_PREFIX)}",
                kind=ACTION,
            )
            return await deliver(handle, page)
        carried: list[Write] = []
        if tapped is not None:
            # Remove the keyboard: a second tap on a stale button cannot pick anything. Its
            # pacing count rides with the tap's turn (no round trip of its own).
            carried = await self._try(
                EditMessageReplyMarkup(chat_id=tapped.chat.id, message_id=tapped.message_id),
                user_id,
                carry=True,
            )
        locale = query.from_user.language_code
        if query.data is None:
            # A game's button: nothing the bot offered, but answered like any other message.
            inbound = Inbound(
                self.name, user_id, message_id, locale_hint=locale, kind="tap", carried=(*carried,)
            )
        else:
            inbound = Inbound(
                self.name,
                user_id,
                message_id,
                option=query.data,
                locale_hint=locale,
                carried=(*carried,),
            )
        return await deliver(handle, inbound)

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
                raw = await self.redis.get(pages_key(message.user_id))
            except (RedisError, OSError) as exc:
                raise StorageError(f"Redis unreachable: {exc}") from exc
            stored = load_pages(raw) if raw is not None else None
        if stored is None or stored[0] != message_id:
            # An older keyboard (its options may no longer be on offer): take it away.
            await self._try(
                EditMessageReplyMarkup(chat_id=chat_id, message_id=message_id), message.user_id
            )
            return []
        options = stored[1]
        page = page_number(page_text)
        if page is None or page >= page_count(options):
            return []  # the "n/N" button, or a page that does not exist: nothing to change
        await self._try(
            EditMessageReplyMarkup(
                chat_id=chat_id, message_id=message_id, reply_markup=page_keyboard(options, page)
            ),
            message.user_id,
        )
        return []
