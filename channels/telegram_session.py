"""aiogram's aiohttp session, posting JSON rather than multipart form data.

The Bot API takes both (https://core.telegram.org/bots/api#making-requests), but aiogram encodes
every call as ``multipart/form-data``, each field JSON-dumped on its own: about 0.17 ms of CPU a
call against 0.07 ms for one JSON body, on a path that runs two or three times a turn. Calls that
upload a file (the QR code's photo) still go as form data, through aiogram's own code.

A custom session is aiogram's extension point for this (``Bot(token, session=...)``); errors are
raised as aiogram raises them, so the channel's handling stays the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InputFile
from aiohttp import ClientError, ClientTimeout
from aiohttp.payload import BytesPayload

if TYPE_CHECKING:
    from aiogram import Bot


# aiogram parses every Bot API answer as ``Response[<the method's result type>]``. pydantic keeps
# such parametrized models in a weak cache, so after each garbage collection they are built again,
# several milliseconds each: a tenth of the webhook process's CPU (py-spy, bench/dialog_http.py).
# One strong reference per method type keeps them built.
_RESPONSE_MODELS: dict[type[TelegramMethod[Any]], type] = {}


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
        files: dict[str, InputFile] = {}
        fields: dict[str, Any] = {}
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
