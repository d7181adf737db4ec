"""aiogram's aiohttp session, posting JSON rather than multipart form data.

The Bot API takes both (https://core.telegram.org/bots/api#making-requests), but aiogram encodes
every call as ``multipart/form-data``, each field JSON-dumped on its own: about 0.17 ms of CPU a
call against 0.07 ms for one JSON body, on a path that runs two or three times a turn. Calls that
upload a file (the QR code's photo) still go as form data, through aiogram's own code.

A custom session is aiogram's extension point for this (``Bot(token, session=...)``); errors are
raised as aiogram raises them, so the channel's handling stays the same.

The two calls of every turn, ``sendMessage`` and ``editMessageReplyMarkup``, are written to JSON
straight from the method's fields, without ``model_dump`` and aiogram's value preparation; and the
answers to the sends whose result the channel does not read are not validated into aiogram's
models: only ``ok`` is looked at, and a sent message comes back as a :class:`Sent` (its id and
chat) (issue #17: the two were 10-15% of a turn). Errors still go through aiogram's
``check_response``, which maps them (``error_code``, ``parameters.retry_after``) to its
exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InlineKeyboardMarkup, InputFile
from aiohttp import ClientError, ClientTimeout
from aiohttp.payload import BytesPayload

if TYPE_CHECKING:
    from aiogram import Bot


# aiogram parses every Bot API answer as ``Response[<the method's result type>]``. pydantic keeps
# such parametrized models in a weak cache, so after each garbage collection they are built again,
# several milliseconds each: a tenth of the webhook process's CPU (py-spy, bench/dialog_http.py).
# One strong reference per method type keeps them built.
_RESPONSE_MODELS: dict[type[TelegramMethod[Any]], type] = {}

# Calls whose answer the channel reads nothing from but success (and a sent message's id).
_UNREAD: tuple[type[TelegramMethod[Any]], ...] = (
    SendMessage,
    SendPhoto,
    EditMessageReplyMarkup,
    EditMessageText,
    AnswerCallbackQuery,
    DeleteMessage,
)
# The fields the channel sets on the calls written to JSON directly; a call with any other field
# set (or a bot with default properties, which would fill some in) takes aiogram's way.
_DIRECT: dict[type[TelegramMethod[Any]], frozenset[str]] = {
    SendMessage: frozenset({"chat_id", "text", "parse_mode", "reply_markup"}),
    EditMessageReplyMarkup: frozenset({"chat_id", "message_id", "reply_markup"}),
}
_NO_DEFAULTS = DefaultBotProperties()
# Built once and kept (see _RESPONSE_MODELS).
_ANY_RESPONSE = Response[Any]


def _markup(markup: InlineKeyboardMarkup) -> dict[str, Any] | None:
    """An inline keyboard as the Bot API's JSON, or None if a button has more than scalars."""
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            fields = {k: v for k, v in button.__dict__.items() if v is not None}
            if not all(isinstance(v, str | int) for v in fields.values()):
                return None
            buttons.append(fields)
        rows.append(buttons)
    return {"inline_keyboard": rows}


def direct_fields(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The JSON fields of a sendMessage or editMessageReplyMarkup the channel built, or None when
    the call needs aiogram's own preparation (another method, other fields, bot defaults)."""
    allowed = _DIRECT.get(type(method))
    if allowed is None or not method.model_fields_set <= allowed or bot.default != _NO_DEFAULTS:
        return None
    fields: dict[str, Any] = {}
    for key in method.model_fields_set:
        value = getattr(method, key)
        if value is None:
            continue
        if isinstance(value, InlineKeyboardMarkup):
            value = _markup(value)
            if value is None:
                return None
        elif not isinstance(value, str | int):
            return None
        fields[key] = value
    return fields


@dataclass(frozen=True, slots=True)
class Sent:
    """A sent message as far as the channel reads it, in place of aiogram's ``Message`` (whose
    hundred-odd fields cost more to fill in, even unvalidated, than the rest of the call)."""

    message_id: int
    chat_id: int


def _sent(result: dict[str, Any]) -> Sent | None:
    message_id, chat = result.get("message_id"), result.get("chat")
    if type(message_id) is not int or not isinstance(chat, dict) or type(chat.get("id")) is not int:
        return None
    return Sent(message_id, chat["id"])


class JsonSession(AiohttpSession):
    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        kind = type(method)
        if kind not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        if any(isinstance(value, InputFile) for value in method.__dict__.values()):
            # An upload (the QR photo): aiogram's form encoding, without preparing twice.
            return await super().make_request(bot, method, timeout)
        fields = direct_fields(bot, method)
        if fields is None:
            files: dict[str, InputFile] = {}
            fields = {}
            for key, value in method.model_dump(warnings=False).items():
                prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
                if prepared is not None:
                    fields[key] = prepared
            if files:
                return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        limit = ClientTimeout(total=self.timeout if timeout is None else timeout)
        try:
            # A ready payload: aiohttp skips looking up a payload type for a str body.
            body = BytesPayload(self.json_dumps(fields).encode(), content_type="application/json")
            async with session.post(url, data=body, timeout=limit) as response:
                content = await response.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(method=method, message=message) from exc
        answer = self.check_response(
            bot=bot, method=method, status_code=response.status, content=content
        )
        return cast(TelegramType, answer.result)

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        """A successful answer to a send the channel does not read, taken as it is; anything
        else (an error above all) as aiogram checks it."""
        if isinstance(method, _UNREAD) and 200 <= status_code < 300:
            try:
                data = self.json_loads(content)
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("ok") is True:
                result = data.get("result")
                light = _sent(result) if isinstance(result, dict) else result
                if light is True or isinstance(light, Sent):
                    return _ANY_RESPONSE.model_construct(ok=True, result=light)
        return super().check_response(bot, method, status_code, content)
