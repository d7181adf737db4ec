"""The few fields of a Bot API ``Update`` the Telegram channel reads, as strict typed models.

A webhook body is parsed and validated in one pass (pydantic's JSON parser) straight into these
models: cheaper than aiogram's full ``Update`` (issue #17), and what does not fit is refused with
400 at the door instead of failing deeper in with a 500. The parser itself refuses bodies no
platform sends: strings with a lone UTF-16 surrogate (``"\\ud800"``: not UTF-8, so they could
never be stored or logged) and nesting deeper than a few hundred levels.

Shapes follow the Bot API reference (Update, Message, User, Chat, CallbackQuery,
MaybeInaccessibleMessage). Fields the channel does not read are ignored, so whatever Telegram adds
later still parses; the ones it reads are strict (an ``update_id`` of ``"1"`` is refused).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["CallbackQuery", "Chat", "Message", "Update", "User", "ValidationError", "parse"]

# What a non-text message carries instead of text, in the order the Bot API lists them: the name
# of the first one present becomes the Inbound's kind (for logs and metrics).
KINDS = (
    "animation",
    "audio",
    "document",
    "paid_media",
    "photo",
    "sticker",
    "story",
    "video",
    "video_note",
    "voice",
    "contact",
    "dice",
    "game",
    "poll",
    "venue",
    "location",
)


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, populate_by_name=True)


class User(_Model):
    id: int
    language_code: str | None = None


class Chat(_Model):
    id: int
    type: str


class Point(_Model):
    """A Location: a shared point (a venue carries one too)."""

    latitude: float
    longitude: float


class Message(_Model):
    """A message, or an InaccessibleMessage (``date`` 0: too old for the bot to edit)."""

    message_id: int
    chat: Chat
    date: int = 0
    from_user: User | None = Field(default=None, alias="from")
    text: str | None = None
    location: Point | None = None
    # The first content field present besides text (see KINDS), else "other".
    kind: str = "text"

    @property
    def accessible(self) -> bool:
        return self.date != 0

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            text = data.get("text") is not None
            data = {
                **data,
                "kind": "text" if text else next(filter(data.__contains__, KINDS), "other"),
            }
        return data


class CallbackQuery(_Model):
    id: str
    from_user: User = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class Update(_Model):
    update_id: int
    message: Message | None = None
    callback_query: CallbackQuery | None = None


def parse(body: bytes) -> Update:
    """The update in a webhook body; raises :class:`ValidationError` for anything else (not
    JSON, not an object, a field of the wrong type, a lone surrogate, nesting too deep)."""
    return Update.model_validate_json(body)


def from_data(data: dict[str, Any]) -> Update:
    """The update in already-decoded JSON (long polling, where aiogram decoded it)."""
    return Update.model_validate(data)
