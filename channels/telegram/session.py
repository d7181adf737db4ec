"""aiogram's aiohttp session, posting JSON rather than multipart form data.

The Bot API takes both (https://core.telegram.org/bots/api#making-requests), but aiogram encodes
every call as ``multipart/form-data``, each field JSON-dumped on its own: about 0.17 ms of CPU a
call against 0.07 ms for one JSON body, on a path that runs two or three times a turn. Calls that
upload a file (the QR code's photo) still go as form data, through aiogram's own code.

A custom session is aiogram's extension point for this (``Bot(token, session=...)``); errors are
raised as aiogram raises them, so the channel's handling stays the same.

The two calls of every turn, ``sendMessage`` and ``editMessageReplyMarkup``, are built by the
channel as a :class:`JsonCall`, the JSON the Bot API reads, without aiogram's method and keyboard
models (building them, then dumping them again, was about 5% of a turn), and sent by
:meth:`JsonSession.send_json`; other calls built as aiogram methods are written to JSON from
``model_dump``. The answers to the sends whose result the channel does not read are not validated
into aiogram's models: only ``ok`` is looked at, and a sent message comes back as a :class:`Sent`
(its id and chat) (issue #17: the two were 10-15% of a turn). Errors still go through aiogram's
``check_response``, which maps them (``error_code``, ``parameters.retry_after``) to its
exceptions, with the call as aiogram's method model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

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
from aiogram.types import BufferedInputFile, InputFile
from aiohttp import ClientError, ClientTimeout, FormData
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
# Built once and kept (see _RESPONSE_MODELS).
_ANY_RESPONSE = Response[Any]


@dataclass(frozen=True, slots=True)
class JsonCall:
    """A Bot API call as the JSON fields the Bot API reads (strings, integers, and lists and
    dicts of them), with the aiogram method type it stands for: ``model`` names the API method,
    and the fields become that model where aiogram needs one (an error to map, a session other
    than :class:`JsonSession`). The caller sets every field it means: a bot's default properties
    are not filled in."""

    model: type[TelegramMethod[Any]]
    fields: dict[str, Any]
    # A file sent with the call, as (field, file name, bytes): the call then goes as multipart
    # form data (the QR code's photo), its other fields as aiogram writes form fields.
    upload: tuple[str, str, bytes] | None = None

    @property
    def api_method(self) -> str:
        return self.model.__api_method__

    @property
    def chat_id(self) -> Any:
        return self.fields.get("chat_id")

    def as_method(self) -> TelegramMethod[Any]:
        if self.upload is None:
            return self.model.model_validate(self.fields)
        name, filename, data = self.upload
        return self.model.model_validate(
            {**self.fields, name: BufferedInputFile(data, filename=filename)}
        )


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
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (token, API method) -> URL, formatted once.
        self._urls: dict[tuple[str, str], str] = {}

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
            # An upload (the QR photo): multipart form data, as one buffer.
            body = await self._form_body(bot, method)
            if body is None:
                return await super().make_request(bot, method, timeout)
        else:
            files: dict[str, InputFile] = {}
            fields = {}
            for key, value in method.model_dump(warnings=False).items():
                prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
                if prepared is not None:
                    fields[key] = prepared
            if files:
                return await super().make_request(bot, method, timeout)
            body = self._json_body(fields)
        name = method.__api_method__
        status, content = await self._post(bot, name, body, timeout, lambda: method)
        answer = self.check_response(bot=bot, method=method, status_code=status, content=content)
        return cast(TelegramType, answer.result)

    async def send_json(
        self,
        bot: Bot,
        call: JsonCall,
        timeout: int | None = None,  # noqa: ASYNC109 - as make_request's
    ) -> Any:
        """Send ``call``; its result (:class:`Sent` for a sent message, True for an edit)."""
        body = self._json_body(call.fields) if call.upload is None else await self._upload(call)
        status, content = await self._post(bot, call.api_method, body, timeout, call.as_method)
        light = self._light_result(call.model, status, content)
        if light is not None:
            return light
        answer = super().check_response(bot, call.as_method(), status, content)
        return answer.result

    def _json_body(self, fields: dict[str, Any]) -> BytesPayload:
        # A ready payload: aiohttp skips looking up a payload type for a str body.
        return BytesPayload(self.json_dumps(fields).encode(), content_type="application/json")

    async def _post(
        self,
        bot: Bot,
        api_method: str,
        body: BytesPayload,
        timeout: int | None,  # noqa: ASYNC109 - as make_request's
        method: Callable[[], TelegramMethod[Any]],
    ) -> tuple[int, str]:
        """One POST; its status and body. Network failures are raised as aiogram raises them
        (``method`` gives the call's model, built only then)."""
        session = await self.create_session()
        url = self._urls.get((bot.token, api_method))
        if url is None:
            url = self._urls[bot.token, api_method] = self.api.api_url(bot.token, api_method)
        limit = ClientTimeout(total=self.timeout if timeout is None else timeout)
        try:
            async with session.post(url, data=body, timeout=limit) as response:
                # The Bot API answers JSON, which is UTF-8 (RFC 8259): no charset to look for.
                return response.status, (await response.read()).decode(errors="replace")
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method(), message="Request timeout error") from exc
        except ClientError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(method=method(), message=message) from exc

    def _light_result(
        self, kind: type[TelegramMethod[Any]], status_code: int, content: str
    ) -> Sent | bool | None:
        """A successful answer to a send the channel does not read: True or the sent message's
        :class:`Sent`; None for anything else (an error above all), for aiogram to check."""
        if not issubclass(kind, _UNREAD) or not 200 <= status_code < 300:
            return None
        try:
            data = self.json_loads(content)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("ok") is not True:
            return None
        result = data.get("result")
        light = _sent(result) if isinstance(result, dict) else result
        return light if light is True or isinstance(light, Sent) else None

    async def _upload(self, call: JsonCall) -> BytesPayload:
        """A call with a file as multipart form data in one buffer, without aiogram's method
        model (building it, dumping it and preparing each field was half the photo's cost):
        strings as they are, other values as aiogram's ``prepare_value`` writes them."""
        assert call.upload is not None
        form = FormData(quote_fields=False)
        for key, value in call.fields.items():
            if value is not None:
                form.add_field(key, value if isinstance(value, str) else self.json_dumps(value))
        name, filename, data = call.upload
        # As aiogram sends it: the field names an attached part, which holds the file.
        form.add_field(name, f"attach://{name}_file")
        form.add_field(
            f"{name}_file", data, filename=filename, content_type="application/octet-stream"
        )
        writer = form()
        return BytesPayload(await writer.as_bytes(), content_type=writer.content_type)

    async def _form_body(
        self, bot: Bot, method: TelegramMethod[TelegramType]
    ) -> BytesPayload | None:
        """An upload's form (aiogram's fields and encoding) written out to one buffer, so it
        goes out with its length in one write: aiogram streams an in-memory file as a chunked
        body, about twenty socket writes for the QR photo (strace, issue #17). None for a file
        that is not already in memory, which keeps aiogram's streaming."""
        form = FormData(quote_fields=False)
        files: dict[str, InputFile] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                form.add_field(key, prepared)
        for key, file in files.items():
            if not isinstance(file, BufferedInputFile):
                return None
            form.add_field(
                key,
                file.data,
                filename=file.filename or key,
                content_type="application/octet-stream",
            )
        writer = form()
        return BytesPayload(await writer.as_bytes(), content_type=writer.content_type)

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        """A successful answer to a send the channel does not read, taken as it is; anything
        else (an error above all) as aiogram checks it."""
        light = self._light_result(type(method), status_code, content)
        if light is not None:
            return _ANY_RESPONSE.model_construct(ok=True, result=light)
        return super().check_response(bot, method, status_code, content)
