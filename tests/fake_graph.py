"""A fake WhatsApp Cloud API (Graph API) on loopback, answering with Meta's real payload shapes.

It records every message and upload in order, can be told to refuse a recipient a few times with a
given error code, and refuses free-form messages to recipients outside the 24-hour window (131047)
either at once or, as Meta mostly does, by accepting them and reporting a ``failed`` status later.
It refuses interactive messages over Meta's documented limits (131009), and answers a read of the
phone number (``GET /{phone_number_id}``) as the channel's start-up check.

Shapes follow Meta's references: Messages API (text, interactive reply buttons, list messages and
location request messages, template), media upload (``{"id": ...}``), the ``messages`` webhook
and its statuses, and the WhatsApp error codes (HTTP 401 for 190; HTTP 400 for 130429, 131026,
131047, 131056, 131009; HTTP 500 for 131000).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_telegram import Bucket, stall
from tests.web_support import run_server

VERSION = "v21.0"
AUTH = 190

# code -> (HTTP status, title, details), as the Graph API answers them.
ERRORS: dict[int, tuple[int, str, str]] = {
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number "
        "in a short period of time.",
    ),
    131026: (400, "Message undeliverable", "Unable to deliver message."),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131009: (400, "Parameter value is not valid", "One or more parameter values are invalid."),
    190: (401, "Error validating access token: Session has expired", ""),
}
HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
# The limits Meta documents for interactive messages, in characters.
MAX_BUTTONS, MAX_BUTTON_TITLE, MAX_BUTTON_ID = 3, 20, 256
MAX_ROWS, MAX_ROW_TITLE, MAX_ROW_ID, MAX_ROW_DESCRIPTION = 10, 24, 200, 72
MAX_SECTIONS, MAX_SECTION_TITLE, MAX_LIST_BUTTON = 10, 24, 20
MAX_BODY, MAX_TEXT = 1024, 4096


def error_body(code: int, details: str | None = None) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of a refused Graph API call."""
    status, title, default = ERRORS[code]
    error: dict[str, Any] = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
    }
    if code == AUTH:
        # A Graph API (not WhatsApp) error: no error_data, and the message is the title itself.
        error["message"] = title
        error["error_subcode"] = 463
    else:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or default}
    error["fbtrace_id"] = "AbCdEfGhIjK"
    return status, {"error": error}


def unknown_object(method: str, object_id: str) -> dict[str, Any]:
    """Graph's answer about an id that does not exist or that the token may not use."""
    return {
        "error": {
            "message": f"Unsupported {method} request. Object with ID '{object_id}' does not "
            "exist, cannot be loaded due to missing permissions, or does not support this "
            "operation.",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }


def status_update(
    wamid: str, recipient: str, state: str, code: int | None = None
) -> dict[str, Any]:
    """One ``statuses[]`` entry of the messages webhook; ``failed`` ones carry ``errors[]``."""
    status: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": "1893456000",
        "recipient_id": recipient,
    }
    if state == "failed" and code is not None:
        _, title, details = ERRORS[code]
        status["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": HREF,
            }
        ]
    return status


def _too_long(value: object, limit: int) -> bool:
    return not isinstance(value, str) or not 0 < len(value) <= limit


def invalid_interactive(interactive: dict[str, Any]) -> str | None:
    """Why Meta would refuse this interactive message, or None when it is within the limits."""
    body = interactive.get("body", {}).get("text")
    if _too_long(body, MAX_BODY):
        return f"Body text length invalid. Min length: 1, Max length: {MAX_BODY}"
    action = interactive.get("action", {})
    if interactive.get("type") == "button":
        buttons = action.get("buttons", [])
        if not 0 < len(buttons) <= MAX_BUTTONS:
            return f"Buttons count invalid. Min: 1, Max: {MAX_BUTTONS}"
        for button in buttons:
            reply = button.get("reply", {})
            if button.get("type") != "reply":
                return "Button type must be reply"
            if _too_long(reply.get("id"), MAX_BUTTON_ID):
                return f"Button id length invalid. Min length: 1, Max length: {MAX_BUTTON_ID}"
            if _too_long(reply.get("title"), MAX_BUTTON_TITLE):
                return f"Button title length invalid. Min length: 1, Max length: {MAX_BUTTON_TITLE}"
        return None
    if interactive.get("type") == "list":
        if _too_long(action.get("button"), MAX_LIST_BUTTON):
            return f"Button text length invalid. Min length: 1, Max length: {MAX_LIST_BUTTON}"
        sections = action.get("sections", [])
        if not 0 < len(sections) <= MAX_SECTIONS:
            return f"Sections count invalid. Min: 1, Max: {MAX_SECTIONS}"
        if len(sections) > 1 and any(
            _too_long(s.get("title"), MAX_SECTION_TITLE) for s in sections
        ):
            return "Section title is required when there is more than one section"
        rows = [row for section in sections for row in section.get("rows", [])]
        if not 0 < len(rows) <= MAX_ROWS:
            return f"Total row count invalid. Min: 1, Max: {MAX_ROWS}"
        for row in rows:
            if _too_long(row.get("id"), MAX_ROW_ID):
                return f"Row id length invalid. Min length: 1, Max length: {MAX_ROW_ID}"
            if _too_long(row.get("title"), MAX_ROW_TITLE):
                return f"Row title length invalid. Min length: 1, Max length: {MAX_ROW_TITLE}"
            if "description" in row and _too_long(row["description"], MAX_ROW_DESCRIPTION):
                return f"Row description length invalid. Max length: {MAX_ROW_DESCRIPTION}"
        return None
    if interactive.get("type") == "location_request_message":
        # Body text and WhatsApp's own "send location" button: nothing else to configure.
        if action.get("name") != "send_location":
            return "Action name must be send_location"
        return None
    return f"Interactive type {interactive.get('type')!r} is not supported here"


@dataclass
class FakeGraph:
    phone_number_id: str = "1234567890"
    token: str = "test-token"
    # Every message or upload as received: {"path": ..., "json": ...} (with the "id" Meta gave an
    # accepted message) or {"path": ..., "form": ...}.
    requests: list[dict[str, Any]] = field(default_factory=list)
    # recipient -> [error code, times left]
    failures: dict[str, list[int]] = field(default_factory=dict)
    # Recipients whose free-form messages are refused at once (HTTP 400, 131047)...
    outside_window: set[str] = field(default_factory=set)
    # ...or accepted, then reported as a failed status (131047), as Meta mostly does.
    outside_window_later: set[str] = field(default_factory=set)
    # Statuses Meta would post to the webhook, in order; a driver delivers them.
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # Reads of the phone number (the channel's start-up check).
    lookups: int = 0
    token_expired: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""
    # With enforce_rate(): the number's throughput limit, and how many messages it refused.
    bucket: Bucket | None = None
    throttled: int = 0
    # recipient -> how long each of the next messages to it stalls before it is processed
    hangs: dict[str, list[float]] = field(default_factory=dict)

    def hang(self, recipient: str, seconds: float, times: int = 1) -> None:
        """Stall the next ``times`` messages to ``recipient`` ``seconds`` before answering. A
        stalled request whose client gives up is never processed (no wamid, nothing sent)."""
        self.hangs.setdefault(recipient, []).extend([seconds] * times)

    def enforce_rate(self, per_second: float) -> None:
        """Refuse messages beyond a token bucket of ``per_second`` (capacity and refill) with
        130429, as Meta does past the number's throughput."""
        self.bucket = Bucket(per_second)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The message requests Meta accepted (given a wamid), in order, with their ``at``."""
        return [r for r in self.requests if r["path"].endswith("/messages") and "id" in r]

    def fail(self, recipient: str, code: int, times: int = 1) -> None:
        self.failures[recipient] = [code, times]

    def expire_token(self) -> None:
        """From now on every call is refused as with an expired access token (401, 190)."""
        self.token_expired = True

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The message bodies accepted or refused, in order (media uploads left out)."""
        return [r["json"] for r in self.requests if r["path"].endswith("/messages")]

    def to(self, recipient: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("to") == recipient]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"/{VERSION}/{{pnid}}", self._phone_number)
        app.router.add_post(f"/{VERSION}/{{pnid}}/messages", self._message)
        app.router.add_post(f"/{VERSION}/{{pnid}}/media", self._media)
        return app

    def _refuse(self, request: web.Request) -> web.Response | None:
        # Graph checks the token before it looks the object up.
        if self.token_expired or request.headers.get("Authorization") != f"Bearer {self.token}":
            status, body = error_body(AUTH)
            return web.json_response(body, status=status)
        if request.match_info["pnid"] != self.phone_number_id:
            method = request.method.lower()
            return web.json_response(unknown_object(method, request.match_info["pnid"]), status=400)
        return None

    async def _phone_number(self, request: web.Request) -> web.Response:
        self.lookups += 1
        refused = self._refuse(request)
        if refused is not None:
            return refused
        known = {
            "id": self.phone_number_id,
            "display_phone_number": "+1 555-000-1111",
            "verified_name": "Kantor Imigrasi Test",
            "quality_rating": "GREEN",
        }
        # Graph answers the fields asked for (id always), or a default set without ``fields``.
        wanted = request.query.get("fields", "display_phone_number,verified_name").split(",")
        return web.json_response({k: v for k, v in known.items() if k in {"id", *wanted}})

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": request.path, "json": body, "at": time.monotonic()})
        refused = self._refuse(request)
        if refused is not None:
            return refused
        to = str(body.get("to", ""))
        if self.hangs.get(to) and not await stall(request, self.hangs[to].pop(0)):
            return web.Response(status=499)  # the client went away: nothing was sent
        if self.bucket is not None and not self.bucket.take():
            self.throttled += 1
            status, error = error_body(130429)
            return web.json_response(error, status=status)
        failure = self.failures.get(to)
        if failure and failure[1] > 0:
            failure[1] -= 1
            status, error = error_body(failure[0])
            return web.json_response(error, status=status)
        if body.get("type") == "interactive":
            problem = invalid_interactive(body.get("interactive", {}))
            if problem is not None:
                status, error = error_body(131009, problem)
                return web.json_response(error, status=status)
        if body.get("type") == "text" and _too_long(body.get("text", {}).get("body"), MAX_TEXT):
            status, error = error_body(131009, "Text body length invalid.")
            return web.json_response(error, status=status)
        free_form = body.get("type") != "template"
        if to in self.outside_window and free_form:
            status, error = error_body(131047)
            return web.json_response(error, status=status)
        message_id = f"wamid.{next(self._ids)}"
        self.requests[-1]["id"] = message_id
        if to in self.outside_window_later and free_form:
            self.statuses.append(status_update(message_id, to, "failed", 131047))
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )

    async def _media(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        size = len(upload.file.read()) if isinstance(upload, web.FileField) else 0
        self.requests.append(
            {
                "path": request.path,
                "form": {k: v for k, v in form.items() if isinstance(v, str)},
                "file_size": size,
            }
        )
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return web.json_response({"id": f"media.{next(self._ids)}"})


@asynccontextmanager
async def run_fake_graph(phone_number_id: str = "1234567890") -> AsyncIterator[FakeGraph]:
    """Serve a :class:`FakeGraph`; its ``base_url`` is what the channel's client should use."""
    fake = FakeGraph(phone_number_id=phone_number_id)
    async with run_server(fake.app()) as url:
        fake.base_url = f"{url}/{VERSION}"
        yield fake


# -- Meta's side of the webhook -----------------------------------------------------------------

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
_wamids = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgLNjI4MTIzNDU2Nzg5FQIAEhgU{next(_wamids):08d}"


def text_message(wa_id: str, body: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id or wamid(),
        "timestamp": "1893456000",
        "type": "text",
        "text": {"body": body},
    }


def reply_message(
    wa_id: str, kind: str, option_id: str, title: str, message_id: str | None = None
) -> dict[str, Any]:
    """A tap on a reply button (``kind`` "button_reply") or a list row ("list_reply")."""
    return {
        "context": {"from": "15550001111", "id": "wamid.previous"},
        "from": wa_id,
        "id": message_id or wamid(),
        "timestamp": "1893456000",
        "type": "interactive",
        "interactive": {"type": kind, kind: {"id": option_id, "title": title}},
    }


def envelope(
    messages: Sequence[dict[str, Any]] = (),
    statuses: Sequence[dict[str, Any]] = (),
    phone_number_id: str = "1234567890",
) -> dict[str, Any]:
    """Meta's webhook envelope around ``messages`` and ``statuses`` (one entry, one change)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
    }
    if messages:
        wa_ids = dict.fromkeys(str(m["from"]) for m in messages)
        value["contacts"] = [{"profile": {"name": "Budi"}, "wa_id": w} for w in wa_ids]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """The headers Meta sends with a webhook ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
