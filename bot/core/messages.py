"""Messages that know no channel: what a user sent, and what the bot answers."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core import fastjson
from bot.core.writes import Write

CHANNELS = ("telegram", "whatsapp", "console")
# The kind of an Inbound that carries typed text or a tapped option.
TEXT = "text"
# The kind of an Inbound that the channel itself carries out once the engine admits it (turning a
# page of a long keyboard): de-duplicated, rate-limited and in order like any message, but no step
# sees it and the session stays as it is. Its ``option`` is the channel's own payload.
ACTION = "action"
# The kind of an Inbound that carries a shared map location (``location``): a step that asked for
# one (Prompt.location) gets it; any other step answers it like a sticker.
LOCATION = "location"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a user: typed ``text``, or the id of a chosen ``option``. A message the
    bot cannot read (a sticker, a photo, a location...) has the platform's name for it as its
    ``kind`` and no text: it still goes through the engine, so it is de-duplicated, counted in the
    rate limit and answered once."""

    channel: str
    user_id: str
    message_id: str
    text: str = ""
    option: str | None = None
    # The platform's idea of the user's language (Telegram's language_code), used until the user
    # picks one.
    locale_hint: str | None = None
    kind: str = TEXT
    # A shared map location, (latitude, longitude) in WGS 84 degrees (kind LOCATION).
    location: tuple[float, float] | None = None
    # Writes the channel made arriving (the pacing count of a keyboard it removed), carried to
    # this message's turn so they ride with its save instead of costing a round trip of their
    # own. Not part of the message: never stored with it, not compared.
    carried: tuple[Write, ...] = field(default=(), compare=False, repr=False)

    @property
    def identity(self) -> str:
        return f"{self.channel}:{self.user_id}"

    def dumps(self) -> str:
        data: dict[str, str] = {"c": self.channel, "u": self.user_id, "m": self.message_id}
        if self.text:
            data["t"] = self.text
        if self.option is not None:
            data["o"] = self.option
        if self.locale_hint:
            data["l"] = self.locale_hint
        if self.kind != TEXT:
            data["k"] = self.kind
        out: dict[str, object] = dict(data)
        if self.location is not None:
            out["g"] = list(self.location)
        return fastjson.dumps(out)

    @classmethod
    def loads(cls, raw: str | bytes) -> Inbound:
        data = fastjson.loads(raw)
        return cls(
            channel=data["c"],
            user_id=data["u"],
            message_id=data["m"],
            text=data.get("t", ""),
            option=data.get("o"),
            locale_hint=data.get("l"),
            kind=data.get("k", TEXT),
            location=_location(data.get("g")),
        )


def _location(value: object) -> tuple[float, float] | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    lat, lon = value
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return float(lat), float(lon)


def valid_location(lat: float, lon: float) -> tuple[float, float] | None:
    """(lat, lon) if they are finite degrees on the globe, else None."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return float(lat), float(lon)


@dataclass(frozen=True, slots=True)
class Option:
    """One choice on offer. ``id`` is what comes back when it is picked; it is short and stable."""

    id: str
    title: str
    description: str = ""


# Platforms cap what a button may carry (Telegram's callback data: 64 bytes). Ids longer than this
# travel as a short stable token, which the engine accepts in place of the id.
MAX_OPTION_BYTES = 48


def option_token(option_id: str) -> str:
    """What a channel puts in a button for ``option_id``: the id itself when short, else ``#``
    and a hash of it (the engine resolves the hash against the options on offer)."""
    if len(option_id.encode()) <= MAX_OPTION_BYTES:
        return option_id
    return "#" + hashlib.blake2s(option_id.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    # This message also takes back a request for the user's location made earlier
    # (:class:`AskLocation`) and not answered with one: a channel that left a control for it on
    # screen (Telegram's reply keyboard) removes it with this message. Set by the engine.
    ends_location_request: bool = False


@dataclass(frozen=True, slots=True)
class Choices:
    """A question with options. Channels with buttons show buttons; every channel also accepts
    the option's number or title typed as text."""

    text: str
    options: Sequence[Option] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Image:
    data: bytes
    caption: str = ""
    filename: str = "image.png"
    mime: str = "image/png"


@dataclass(frozen=True, slots=True)
class Location:
    """A place on the map (a venue): WGS 84 degrees, with its name and address. Channels show it
    as their platform's map message (a Telegram venue, a WhatsApp location message), or as a
    line of text with the coordinates and a maps link."""

    lat: float
    lon: float
    name: str = ""
    address: str = ""

    @property
    def maps_url(self) -> str:
        return f"https://www.google.com/maps/search/?api=1&query={self.lat:.6f},{self.lon:.6f}"

    def as_text(self) -> str:
        head = ", ".join(p for p in (self.name, self.address) if p)
        line = f"📍 {self.lat:.6f}, {self.lon:.6f} {self.maps_url}"
        return f"{head}\n{line}" if head else line


@dataclass(frozen=True, slots=True)
class AskLocation:
    """A request for the user's location, with the platform's own "send my location" control:
    WhatsApp's location request message (``text`` and WhatsApp's button), a Telegram message
    with a one-time reply-keyboard button labelled ``button``. A channel without one (the
    console) shows ``text`` and ``typed``: how to type a location (``lat,lon``). The location
    the user shares arrives as a :data:`LOCATION` inbound."""

    text: str
    button: str = ""
    typed: str = ""


Outbound = Text | Choices | Image | Location | AskLocation
