"""The JSON session's short cuts give what aiogram's own way gives, and errors map as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import EditMessageReplyMarkup, GetMe, SendMessage, TelegramMethod
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, User

from bot.core.messages import Option
from channels.telegram.render import keyboard
from channels.telegram.session import JsonSession, Sent, direct_fields

TOKEN = "123456:AAFakeTokenForTheFakeBotApiServer000"


def aiogram_fields(session: JsonSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    files: dict[str, InputFile] = {}
    fields = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            fields[key] = prepared
    return fields


@pytest.fixture
async def bot() -> Any:
    session = JsonSession()
    bot = Bot(TOKEN, session=session)
    yield bot
    await session.close()


@pytest.mark.parametrize(
    "method",
    [
        SendMessage(chat_id="42", text="Pilih", parse_mode=None),
        SendMessage(
            chat_id="42",
            text="Pilih",
            parse_mode=None,
            reply_markup=keyboard([Option("a", "Satu"), Option("b", "Dua")]),
        ),
        SendMessage(chat_id=42, text="tanpa parse_mode"),
        EditMessageReplyMarkup(chat_id=42, message_id=7),
        EditMessageReplyMarkup(chat_id=42, message_id=7, reply_markup=keyboard([Option("a", "1")])),
    ],
)
async def test_a_turns_call_is_written_as_aiogram_would_write_it(
    bot: Bot, method: TelegramMethod[Any]
) -> None:
    assert isinstance(bot.session, JsonSession)
    fields = direct_fields(bot, method)
    assert fields is not None
    assert json.loads(json.dumps(fields)) == aiogram_fields(bot.session, bot, method)


async def test_other_calls_and_bot_defaults_take_aiograms_way(bot: Bot) -> None:
    assert direct_fields(bot, GetMe()) is None
    url_button = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", url="https://example.com")]]
    )
    assert direct_fields(bot, SendMessage(chat_id=1, text="x", reply_markup=url_button)) == {
        "chat_id": 1,
        "text": "x",
        "reply_markup": {"inline_keyboard": [[{"text": "x", "url": "https://example.com"}]]},
    }
    assert direct_fields(bot, SendMessage(chat_id=1, text="x", disable_notification=True)) is None
    styled = Bot(TOKEN, session=JsonSession(), default=DefaultBotProperties(parse_mode="HTML"))
    try:
        assert direct_fields(styled, SendMessage(chat_id=1, text="x")) is None
    finally:
        await styled.session.close()


async def test_a_sent_message_is_its_id_and_chat_unvalidated(bot: Bot) -> None:
    body = {"ok": True, "result": {"message_id": 9, "chat": {"id": 42, "type": "private"}}}
    method = SendMessage(chat_id=42, text="x")
    answer = bot.session.check_response(bot, method, 200, json.dumps(body))
    assert answer.result == Sent(9, 42)
    edited = bot.session.check_response(
        bot, EditMessageReplyMarkup(chat_id=42, message_id=9), 200, '{"ok":true,"result":true}'
    )
    assert edited.result is True


async def test_calls_whose_answer_is_read_are_still_validated(bot: Bot) -> None:
    body = {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "B"}}
    answer = bot.session.check_response(bot, GetMe(), 200, json.dumps(body))
    assert isinstance(answer.result, User)


async def test_errors_are_mapped_as_aiogram_maps_them(bot: Bot) -> None:
    method = SendMessage(chat_id=42, text="x")
    flood = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    with pytest.raises(TelegramRetryAfter) as caught:
        bot.session.check_response(bot, method, 429, json.dumps(flood))
    assert caught.value.retry_after == 3
    bad = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    with pytest.raises(TelegramBadRequest):
        bot.session.check_response(bot, method, 400, json.dumps(bad))
    # An "ok" answer with a status that is not 2xx is not taken as a success here either.
    with pytest.raises(TelegramBadRequest):
        bot.session.check_response(bot, method, 400, json.dumps(bad | {"ok": True}))
