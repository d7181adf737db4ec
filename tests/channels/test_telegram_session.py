"""The JSON session's short cuts give what aiogram's own way gives, and errors map as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import EditMessageReplyMarkup, GetMe, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import BufferedInputFile, InputFile, User

from bot.core.messages import Option
from channels.telegram.render import keyboard, page_keyboard, send_text, set_keyboard
from channels.telegram.session import JsonCall, JsonSession, Sent
from tests.fake_telegram import FakeTelegram
from tests.web_support import run_server

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


ROWS = [Option("a", "Satu"), Option("b", "Dua", "sisa 3")]
DAYS = [Option(str(n), f"Hari {n}") for n in range(20)]


@pytest.mark.parametrize(
    "call",
    [
        send_text("42", "Pilih"),
        send_text(42, "Pilih", keyboard(ROWS)),
        send_text(
            42, "Halaman", page_keyboard([Option(str(n), f"Hari {n}") for n in range(20)], 1)
        ),
        set_keyboard(42, 7),
        set_keyboard(42, 7, keyboard([Option("a", "1")])),
    ],
)
async def test_a_turns_call_is_what_aiogram_would_write_for_its_model(
    bot: Bot, call: JsonCall
) -> None:
    """The JSON the channel writes is the JSON aiogram writes for the same call as its model
    (built from the JSON, validated): nothing is lost or added, no parse mode."""
    assert isinstance(bot.session, JsonSession)
    method = call.as_method()
    assert type(method) is call.model and call.api_method == method.__api_method__
    assert json.loads(json.dumps(call.fields)) == aiogram_fields(bot.session, bot, method)
    assert "parse_mode" not in call.fields


async def test_a_json_call_goes_out_as_json_and_its_answer_is_light() -> None:
    fake = FakeTelegram()
    async with run_server(fake.app()) as base:
        session = JsonSession(api=TelegramAPIServer.from_base(base))
        bot = Bot(TOKEN, session=session)
        try:
            sent = await session.send_json(bot, send_text(42, "Pilih", keyboard(ROWS)))
            edited = await session.send_json(bot, set_keyboard(42, sent.message_id))
            fake.rate_limit(42, retry_after=3)
            with pytest.raises(TelegramRetryAfter) as caught:
                await session.send_json(bot, send_text(42, "lagi"))
        finally:
            await session.close()
    # An edited message comes back as the message (https://core.telegram.org/bots/api#updating-messages).
    assert sent == Sent(fake.of("sendMessage")[0].result["message_id"], 42) == edited
    assert caught.value.retry_after == 3 and isinstance(caught.value.method, SendMessage)
    first = fake.of("sendMessage")[0]
    assert first.params["reply_markup"] == keyboard(ROWS)
    assert fake.of("editMessageReplyMarkup")[0].params == {"chat_id": "42", "message_id": "2"}


async def test_other_calls_keep_aiograms_way(bot: Bot) -> None:
    """A call the channel builds as aiogram's model is written from its ``model_dump``, bot
    defaults included."""
    styled = Bot(TOKEN, session=JsonSession(), default=DefaultBotProperties(parse_mode="HTML"))
    try:
        method = SendMessage(chat_id=1, text="x")
        assert isinstance(styled.session, JsonSession)
        assert aiogram_fields(styled.session, styled, method)["parse_mode"] == "HTML"
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


async def test_a_photo_goes_as_one_form_with_its_length() -> None:
    """The QR photo: the fields and the file aiogram would send, in one body with its length
    (aiogram streams an in-memory file in chunks, a socket write each)."""
    fake = FakeTelegram()
    async with run_server(fake.app()) as base:
        session = JsonSession(api=TelegramAPIServer.from_base(base))
        bot = Bot(TOKEN, session=session)
        try:
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
            photo = BufferedInputFile(png, filename="antrean.png")
            sent = await bot(SendPhoto(chat_id=42, photo=photo, caption="Antrean A-001"))
        finally:
            await session.close()
    (call,) = fake.of("sendPhoto")
    assert not call.chunked
    assert call.params["chat_id"] == "42" and call.params["caption"] == "Antrean A-001"
    assert list(call.files.values()) == [png]
    assert sent == Sent(call.result["message_id"], 42)


async def test_a_photo_call_goes_as_the_same_form_without_aiogram_models() -> None:
    """The channel's photo (a JsonCall with its file): the same fields and file, one body."""
    fake = FakeTelegram()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    call = JsonCall(
        SendPhoto, {"chat_id": "42", "caption": "Antrean A-001"}, ("photo", "a.png", png)
    )
    async with run_server(fake.app()) as base:
        session = JsonSession(api=TelegramAPIServer.from_base(base))
        bot = Bot(TOKEN, session=session)
        try:
            sent = await session.send_json(bot, call)
        finally:
            await session.close()
    (got,) = fake.of("sendPhoto")
    assert not got.chunked
    assert got.params["chat_id"] == "42" and got.params["caption"] == "Antrean A-001"
    assert "parse_mode" not in got.params
    assert list(got.files.values()) == [png]
    assert sent == Sent(got.result["message_id"], 42)
    # Where aiogram needs the model (an error to map), it carries the file too.
    method = call.as_method()
    assert isinstance(method, SendPhoto) and isinstance(method.photo, BufferedInputFile)
