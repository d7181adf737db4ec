"""How the bot's messages look on Telegram: texts cut to the Bot API's limits, options as
inline-keyboard buttons whose callback data is the option's :func:`~bot.core.messages.option_token`
(the id, or a short hash of a long one: the Bot API caps callback data at 64 bytes), long lists
paged with a navigation row. Pure functions: nothing here sends or stores anything.

Texts and keyboards, the calls of every turn, are written as the Bot API's JSON
(:class:`~channels.telegram.session.JsonCall`, an ``InlineKeyboardMarkup`` object as a dict);
photos and places as aiogram's methods.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from aiogram.methods import (
    EditMessageReplyMarkup,
    SendLocation,
    SendMessage,
    SendPhoto,
    SendVenue,
    TelegramMethod,
)

from bot.core.messages import AskLocation, Image, Location, Option, Text, option_token
from channels.telegram.session import JsonCall

MAX_TEXT = 4096  # sendMessage text, in UTF-16 code units
MAX_CAPTION = 1024  # sendPhoto caption
MAX_VENUE_TEXT = 256  # sendVenue title and address (not documented: kept modest)
MAX_BUTTON_TEXT = 64  # a reply-keyboard button's label (not documented: kept short)
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


# An InlineKeyboardButton and an InlineKeyboardMarkup as the Bot API reads them.
Button = dict[str, str]
Markup = dict[str, list[list[Button]]]


def button(text: str, data: str) -> Button:
    return {"text": text, "callback_data": data}


def option_rows(options: Sequence[Option]) -> list[list[Button]]:
    # One button per row: titles (dates, office services) are too long to sit side by side.
    return [[button(button_text(o), callback_data(o))] for o in options]


def keyboard(options: Sequence[Option]) -> Markup:
    """Every option, unpaged."""
    return {"inline_keyboard": option_rows(options)}


def page_count(options: Sequence[Option]) -> int:
    return max(1, math.ceil(len(options) / PAGE_SIZE))


def page_keyboard(options: Sequence[Option], page: int) -> Markup:
    """Page ``page`` (0-based) of ``options``, with a navigation row when there is more than one
    page. Only arrows that lead somewhere are shown."""
    pages = page_count(options)
    rows = option_rows(options[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
    if pages > 1:
        nav: list[Button] = []
        if page > 0:
            nav.append(button(PREV, f"{NAV_PREFIX}{page - 1}"))
        nav.append(button(f"{page + 1}/{pages}", NAV_NOOP))
        if page < pages - 1:
            nav.append(button(NEXT, f"{NAV_PREFIX}{page + 1}"))
        rows.append(nav)
    return {"inline_keyboard": rows}


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


def send_text(chat_id: str | int, text: str, markup: dict[str, Any] | None = None) -> JsonCall:
    """A sendMessage. No parse_mode, ever: user-supplied text (names) must never be read as
    markup."""
    fields: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if markup is not None:
        fields["reply_markup"] = markup
    return JsonCall(SendMessage, fields)


def set_keyboard(chat_id: int, message_id: int, markup: Markup | None = None) -> JsonCall:
    """An editMessageReplyMarkup: ``markup`` on the message, or no keyboard at all."""
    fields: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
    if markup is not None:
        fields["reply_markup"] = markup
    return JsonCall(EditMessageReplyMarkup, fields)


# A ReplyKeyboardRemove: the chat's reply keyboard (the location request's) goes away.
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}


def location_keyboard(label: str) -> dict[str, Any]:
    """A ReplyKeyboardMarkup of one button that shares the user's location
    (``request_location``), shown once: the app hides it when it is used."""
    return {
        "keyboard": [[{"text": label[:MAX_BUTTON_TEXT], "request_location": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }


def methods(
    chat_id: str, message: Text | Image | Location | AskLocation
) -> list[TelegramMethod[Any] | JsonCall]:
    """The Bot API calls that show ``message`` in chat ``chat_id``, in order."""
    if isinstance(message, AskLocation):
        pieces = [p for p in split_text(message.text) if p.strip()] or ["📍"]
        *head, last = pieces
        return [
            *(send_text(chat_id, piece) for piece in head),
            send_text(chat_id, last, location_keyboard(message.button or "📍")),
        ]
    if isinstance(message, Location):
        # A venue needs a title and an address; a bare point is a location.
        if message.name and message.address:
            return [
                SendVenue(
                    chat_id=chat_id,
                    latitude=message.lat,
                    longitude=message.lon,
                    title=message.name[:MAX_VENUE_TEXT],
                    address=message.address[:MAX_VENUE_TEXT],
                )
            ]
        return [SendLocation(chat_id=chat_id, latitude=message.lat, longitude=message.lon)]
    if isinstance(message, Text):
        pieces = [piece for piece in split_text(message.text) if piece.strip()]
        if message.ends_location_request and pieces:
            # The location request's reply keyboard stays until a message replaces it.
            first, *rest = pieces
            return [
                send_text(chat_id, first, REMOVE_KEYBOARD),
                *(send_text(chat_id, piece) for piece in rest),
            ]
        return [send_text(chat_id, piece) for piece in pieces]
    # No parse_mode: as send_text, and a caption left out when it does not fit.
    upload = ("photo", message.filename, message.data)
    if utf16_len(message.caption) <= MAX_CAPTION:
        fields: dict[str, Any] = {"chat_id": chat_id}
        if message.caption:
            fields["caption"] = message.caption
        return [JsonCall(SendPhoto, fields, upload)]
    return [
        JsonCall(SendPhoto, {"chat_id": chat_id}, upload),
        *methods(chat_id, Text(message.caption)),
    ]
