"""A fake WhatsApp Cloud API (Graph API) on loopback, answering with Meta's real payload shapes.

It records every request in order, can be told to refuse a recipient a few times with a given
error code, and refuses free-form messages to recipients outside the 24-hour window (131047),
as Meta does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.web_support import run_server

VERSION = "v21.0"

# code -> (HTTP status, message, type), as the Graph API answers them.
ERRORS: dict[int, tuple[int, str, str]] = {
    130429: (400, "Rate limit hit", "OAuthException"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit", "OAuthException"),
    131026: (400, "Message Undeliverable.", "OAuthException"),
    131000: (500, "Something went wrong", "OAuthException"),
    131047: (400, "Re-engagement message", "OAuthException"),
    190: (401, "Error validating access token: Session has expired", "OAuthException"),
}


def error_body(code: int) -> tuple[int, dict[str, Any]]:
    status, message, kind = ERRORS[code]
    return status, {
        "error": {
            "message": f"({'#' + str(code)}) {message}",
            "type": kind,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "error_subcode": 2494010 if code == 131026 else None,
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }


@dataclass
class FakeGraph:
    phone_number_id: str = "1234567890"
    token: str = "test-token"
    # Every request as received: {"path": ..., "json": ...} or {"path": ..., "form": ...}.
    requests: list[dict[str, Any]] = field(default_factory=list)
    # recipient -> [error code, times left]
    failures: dict[str, list[int]] = field(default_factory=dict)
    outside_window: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""

    def fail(self, recipient: str, code: int, times: int = 1) -> None:
        self.failures[recipient] = [code, times]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The message bodies accepted or refused, in order (media uploads left out)."""
        return [r["json"] for r in self.requests if r["path"].endswith("/messages")]

    def to(self, recipient: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("to") == recipient]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/{VERSION}/{{pnid}}/messages", self._message)
        app.router.add_post(f"/{VERSION}/{{pnid}}/media", self._media)
        return app

    def _refuse(self, request: web.Request) -> web.Response | None:
        if request.match_info["pnid"] != self.phone_number_id:
            return web.json_response(
                {"error": {"message": "Unsupported post request", "type": "GraphMethodException",
                           "code": 100, "error_subcode": 33, "fbtrace_id": "x"}},
                status=400,
            )  # fmt: skip
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            status, body = error_body(190)
            return web.json_response(body, status=status)
        return None

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": request.path, "json": body})
        refused = self._refuse(request)
        if refused is not None:
            return refused
        to = str(body.get("to", ""))
        failure = self.failures.get(to)
        if failure and failure[1] > 0:
            failure[1] -= 1
            status, error = error_body(failure[0])
            return web.json_response(error, status=status)
        if to in self.outside_window and body.get("type") != "template":
            status, error = error_body(131047)
            return web.json_response(error, status=status)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.{next(self._ids)}"}],
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
