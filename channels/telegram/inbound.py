"""What a Telegram update means to the engine: a message or a tap becomes an
:class:`~bot.core.messages.Inbound`; groups, channel posts and edits are ignored; a tap on a
navigation arrow becomes an :data:`~bot.core.messages.ACTION` the channel carries out itself.
Shared by the webhook and long polling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.methods import AnswerCallbackQuery

from bot.core.channel import Handle, deliver
from bot.core.messages import ACTION, LOCATION, Inbound, valid_location
from bot.core.writes import Write
from channels.telegram import update as telegram_update
from channels.telegram.commands import command_text
from channels.telegram.render import NAV_PREFIX, set_keyboard

if TYPE_CHECKING:
    from channels.telegram.channel import TelegramChannel

ALLOWED_UPDATES = ["message", "callback_query"]
# A webhook answer may carry one Bot API call, which Telegram then makes for us (its result is
# never known): the callback-query answer, which only stops the button's spinner, goes that way.
# The reply to a webhook is an update's status and, for callback queries, that call.
Answered = tuple[int, dict[str, Any] | None]


def callback_answer(call: dict[str, Any]) -> AnswerCallbackQuery:
    """The callback-query answer a webhook reply would carry, as a call of our own."""
    return AnswerCallbackQuery(callback_query_id=call["callback_query_id"])


async def dispatch(
    channel: TelegramChannel, update: telegram_update.Update, handle: Handle
) -> Answered:
    """Hand one update to the engine; return the webhook's answer (status, and the call it may
    carry)."""
    message_id = f"u{update.update_id}"
    if update.callback_query is not None:
        query = update.callback_query
        # Always answer, or the user's app shows a spinner on the button for a while. The
        # answer rides on the webhook's reply (no request of ours), so the spinner turns
        # until the bot has answered the tap itself.
        answer = {"method": "answerCallbackQuery", "callback_query_id": query.id}
        return await tap(channel, query, message_id, handle), answer
    message = update.message
    if message is None:
        # edited_message, channel posts, polls…: nothing for a queue bot to do.
        return 200, None
    if message.chat.type != "private":
        # Groups: the bot books for one person at a time, in private.
        return 200, None
    user_id = str(message.chat.id)
    locale = message.from_user.language_code if message.from_user else None
    place = (
        valid_location(message.location.latitude, message.location.longitude)
        if message.location is not None and message.text is None
        else None
    )
    if place is not None:
        # A shared location (or venue): a step that asked for one reads it.
        inbound = Inbound(
            channel.name, user_id, message_id, locale_hint=locale, kind=LOCATION, location=place
        )
    elif message.text is None:
        # A sticker, a photo, a location...: the engine answers it like any message, so it
        # is de-duplicated, rate-limited and answered once.
        inbound = Inbound(channel.name, user_id, message_id, locale_hint=locale, kind=message.kind)
    else:
        text = command_text(message.text)
        inbound = Inbound(channel.name, user_id, message_id, text=text, locale_hint=locale)
    return await deliver(handle, inbound), None


async def tap(
    channel: TelegramChannel, query: telegram_update.CallbackQuery, message_id: str, handle: Handle
) -> int:
    """A tap on an inline button: a page turn (carried out by the channel's ``act``) or an
    option picked."""
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
            channel.name,
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
        carried = await channel._try(
            set_keyboard(tapped.chat.id, tapped.message_id), user_id, carry=True
        )
    locale = query.from_user.language_code
    if query.data is None:
        # A game's button: nothing the bot offered, but answered like any other message.
        inbound = Inbound(
            channel.name, user_id, message_id, locale_hint=locale, kind="tap", carried=(*carried,)
        )
    else:
        inbound = Inbound(
            channel.name,
            user_id,
            message_id,
            option=query.data,
            locale_hint=locale,
            carried=(*carried,),
        )
    return await deliver(handle, inbound)
