"""The parts of a WhatsApp Cloud API webhook the channel acts on, as strict typed models.

Meta posts one envelope (``object: whatsapp_business_account``) with ``entry[].changes[]``; a
change whose ``field`` is ``messages`` has a ``value`` with ``messages``, ``statuses`` and
``errors``. Those values are validated strictly: a field the channel reads with the wrong type
(``"text": "x"``, ``"button": "x"``, ``"list_reply": ["id"]``) makes the whole request a 400,
before anything is done, rather than a 500 half-way through it. Other fields' changes (template
status, account updates...) and parts of a shape we do not know are acknowledged and ignored:
Meta adds fields over time, and would redeliver a refused request for days.

The body goes through pydantic's JSON parser, which refuses strings with a lone UTF-16 surrogate
(``"\\ud800"``: not UTF-8, so no platform sends one, and it could never be stored or logged) and
nesting deeper than a few hundred levels.

Shapes follow Meta's references: the messages webhook (text, interactive ``button_reply`` and
``list_reply``, template quick-reply ``button``, media and other types), statuses with their
``errors``, and value-level ``errors``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import from_json

from bot.core.messages import valid_location

__all__ = ["Message", "Status", "ValidationError", "Value", "parse"]

# A wa_id is the user's number in digits; allow the letters of Meta's newer user ids too, but
# nothing that could break a Redis key's {hash tag}, an identity's "channel:user" or a log line.
UserId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_.-]{1,64}$")]
# A wamid is "wamid." and base64: printable ASCII, no spaces, tabs or newlines.
MessageId = Annotated[str, Field(pattern=r"^[!-~]{1,512}$")]
KIND_RE = re.compile(r"[a-z_]{1,32}")


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, populate_by_name=True)


class Error(_Model):
    """An error Meta reports; only its code and title are kept (its details may quote anything,
    a phone number included, and must not reach the log)."""

    code: int
    title: str = ""


class TextBody(_Model):
    body: str


class ReplyChoice(_Model):
    id: str
    title: str = ""


class Interactive(_Model):
    type: str
    button_reply: ReplyChoice | None = None
    list_reply: ReplyChoice | None = None


class Button(_Model):
    """A template's quick-reply button: its payload if we set one, else its text."""

    payload: str | None = None
    text: str = ""


class Place(_Model):
    """A ``location`` message's place (its name and address are not kept)."""

    latitude: float
    longitude: float


class Message(_Model):
    from_: UserId = Field(alias="from")
    id: MessageId
    type: str
    text: TextBody | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    location: Place | None = None

    @model_validator(mode="after")
    def _has_its_content(self) -> Message:
        if self.type in ("text", "interactive", "button") and getattr(self, self.type) is None:
            raise ValueError(f"a {self.type} message without its {self.type!r} object")
        return self

    @property
    def kind(self) -> str:
        """The message type as an Inbound's kind: a short word, whatever Meta sent."""
        return self.type if KIND_RE.fullmatch(self.type) else "other"

    def place(self) -> tuple[float, float] | None:
        """(latitude, longitude) of a location message on the globe, else None."""
        if self.type != "location" or self.location is None:
            return None
        return valid_location(self.location.latitude, self.location.longitude)

    def read(self) -> tuple[str, str | None] | None:
        """(text, option) of a message the dialog understands, or None for any other kind."""
        if self.text is not None and self.type == "text":
            return self.text.body, None
        if self.interactive is not None and self.type == "interactive":
            reply = self.interactive.button_reply or self.interactive.list_reply
            return ("", reply.id) if reply is not None else None
        if self.button is not None and self.type == "button":
            if self.button.payload:
                return "", self.button.payload
            return self.button.text, None
        return None


class Status(_Model):
    id: MessageId | None = None
    status: str = ""
    # Missing for some recipients (e.g. groups): such statuses are not ours to keep.
    recipient_id: UserId | None = None
    errors: list[Error] = []


class Value(_Model):
    messaging_product: Literal["whatsapp"] = "whatsapp"
    messages: list[Message] = []
    statuses: list[Status] = []
    errors: list[Error] = []


class Envelope(_Model):
    object: Literal["whatsapp_business_account"]
    entry: list[Any] = []


def parse(body: bytes) -> list[Value]:
    """The ``messages`` values of a webhook body; raises ValueError (a :class:`ValidationError`
    among others) for a body that is not JSON, not the envelope, or has a messages value of the
    wrong shape."""
    envelope = Envelope.model_validate(from_json(body))
    return [Value.model_validate(value) for value in _message_values(envelope.entry)]


def _message_values(entries: list[Any]) -> list[Any]:
    values = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict) or change.get("field", "messages") != "messages":
                continue
            if isinstance(change.get("value"), dict):
                values.append(change["value"])
    return values
