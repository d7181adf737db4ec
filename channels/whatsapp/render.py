"""Outbound messages as WhatsApp Cloud API message bodies: pure functions, no I/O.

The Cloud API is strict about lengths (a request over a limit is refused whole), so everything is
cut here, on word and line boundaries, before it leaves us. Reply buttons are used only when every
title fits a button unshortened: a shortened button title could not show the full title anywhere,
whereas a list row can carry it in its description.

Meta allows reply ids of 256 characters (buttons) and 200 (list rows), but every channel follows one
rule: an option id longer than :data:`~bot.core.messages.MAX_OPTION_BYTES` travels as
:func:`~bot.core.messages.option_token`, which the engine resolves against the options on offer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bot.core.messages import AskLocation, Choices, Location, Option, option_token

MAX_TEXT = 4096
MAX_BODY = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_BUTTON = 20
MAX_LOCATION_TEXT = 1000  # a location message's name and address
ELLIPSIS = "…"
# A list row that shows the next page of options; the page number travels in the row id, so the
# webhook needs no other state than the options themselves.
MORE_PREFIX = "__more:"
LIST_BUTTON = "Pilih / Choose"
MORE_TITLE = "Lainnya / More"

Payload = dict[str, Any]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, on a word boundary, ending in "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    cut = text[:room]
    space = cut.rfind(" ")
    # Drop a word cut in half, unless that would leave too little of the text to recognise it.
    if text[room] != " " and space >= room // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-/") + ELLIPSIS


def unique_titles(titles: Sequence[str], limit: int) -> list[str]:
    """Each title shortened to ``limit``; titles that shorten alike get a distinguishing " (n)"."""
    short = [shorten(title, limit) for title in titles]
    counts = Counter(short)
    taken: set[str] = set()
    result: list[str] = []
    for full, title in zip(titles, short, strict=True):
        if counts[title] > 1 or title in taken:
            # Number every member of a collision, not just the later ones: a user seeing
            # "Paspor baru…" and "Paspor baru… (2)" could not tell which the first one is.
            n = 1
            while True:
                suffix = f" ({n})"
                candidate = shorten(full, limit - len(suffix)) + suffix
                if candidate not in taken:
                    break
                n += 1
            title = candidate
        taken.add(title)
        result.append(title)
    return result


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, split between lines where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            # One line longer than a whole message: split it on a word boundary.
            head = line[:limit]
            space = head.rfind(" ")
            cut = space if space > limit // 2 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def text_payloads(text: str) -> list[Payload]:
    return [
        {"type": "text", "text": {"preview_url": False, "body": chunk}}
        for chunk in split_text(text, MAX_TEXT)
        if chunk.strip()
    ]


def _body(text: str) -> tuple[list[Payload], str]:
    """The overflow of an interactive body as text messages (sent first), and the body itself."""
    chunks = split_text(text.strip() or ELLIPSIS, MAX_BODY)
    overflow = [
        {"type": "text", "text": {"preview_url": False, "body": chunk}} for chunk in chunks[:-1]
    ]
    return overflow, chunks[-1] or ELLIPSIS


def page_of(options: Sequence[Option], page: int) -> tuple[list[Option], bool]:
    """The options shown on ``page`` (0-based) and whether a "more" row follows them."""
    start = page * (MAX_ROWS - 1)
    rest = list(options[start:])
    if len(rest) <= MAX_ROWS:
        return rest, False
    return rest[: MAX_ROWS - 1], True


def _fits_buttons(options: Sequence[Option]) -> bool:
    titles = [" ".join(o.title.split()) for o in options]
    return (
        0 < len(options) <= MAX_BUTTONS
        and all(len(t) <= MAX_BUTTON_TITLE for t in titles)
        and len(set(titles)) == len(titles)
    )


def choices_payloads(choices: Choices, page: int = 0) -> list[Payload]:
    """Reply buttons for up to three short options, else a list of up to ten rows (paged)."""
    overflow, body = _body(choices.text)
    options = list(choices.options)
    if not options:
        return [*overflow, *text_payloads(body)]
    if page == 0 and _fits_buttons(options):
        buttons = [
            {
                "type": "reply",
                "reply": {"id": option_token(o.id), "title": " ".join(o.title.split())},
            }
            for o in options
        ]
        interactive: Payload = {
            "type": "button",
            "body": {"text": body},
            "action": {"buttons": buttons},
        }
        return [*overflow, {"type": "interactive", "interactive": interactive}]
    shown, more = page_of(options, page)
    titles = unique_titles([o.title for o in shown], MAX_ROW_TITLE)
    rows: list[Payload] = []
    for option, title in zip(shown, titles, strict=True):
        full = " ".join(option.title.split())
        # A shortened title is shown whole in the description, ahead of the option's own.
        parts = [full] if title != full else []
        if option.description:
            parts.append(option.description)
        row: Payload = {"id": option_token(option.id), "title": title}
        if parts:
            row["description"] = shorten(" · ".join(parts), MAX_ROW_DESCRIPTION)
        rows.append(row)
    if more:
        first = (page + 1) * (MAX_ROWS - 1) + 1
        rows.append(
            {
                "id": f"{MORE_PREFIX}{page + 1}",
                "title": MORE_TITLE,
                "description": f"{first}-{len(options)}",
            }
        )
    interactive = {
        "type": "list",
        "body": {"text": body},
        "action": {"button": LIST_BUTTON, "sections": [{"rows": rows}]},
    }
    return [*overflow, {"type": "interactive", "interactive": interactive}]


def template_payload(name: str, language: str, params: Sequence[str]) -> Payload:
    template: Payload = {"name": name, "language": {"code": language}}
    if params:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
        ]
    return {"type": "template", "template": template}


def location_payload(location: Location) -> Payload:
    """A location message (a pin with the place's name and address)."""
    where: Payload = {"latitude": location.lat, "longitude": location.lon}
    if location.name:
        where["name"] = location.name[:MAX_LOCATION_TEXT]
    if location.address:
        where["address"] = location.address[:MAX_LOCATION_TEXT]
    return {"type": "location", "location": where}


def location_request_payloads(ask: AskLocation) -> list[Payload]:
    """A location request message: the body text (its overflow sent first, as for any
    interactive message) and WhatsApp's own "Send location" button; the place the user shares
    comes back as a ``location`` message."""
    overflow, body = _body(ask.text)
    interactive: Payload = {
        "type": "location_request_message",
        "body": {"text": body},
        "action": {"name": "send_location"},
    }
    return [*overflow, {"type": "interactive", "interactive": interactive}]
