"""A fake Telegram Bot API server for tests: ``POST /bot<token>/<method>`` on loopback.

It records every call in order and answers with payloads shaped like the real API's
(https://core.telegram.org/bots/api#making-requests): ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:AAFakeTokenForTheFakeBotApiServer000"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Antrean",
    "username": "AntreanBot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters the client sends JSON-encoded inside the form.
JSON_PARAMS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options"}
NOW = 1_900_000_000


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    # What the fake answered ("result"), None for an error answer.
    result: Any = None
    # When it arrived (time.monotonic()).
    at: float = 0.0
    # Whether the body came in chunks (no Content-Length).
    chunked: bool = False


@dataclass
class Bucket:
    """A token bucket as a platform enforces it: ``rate`` tokens of capacity, ``rate`` a second."""

    rate: float
    tokens: float = 0.0
    last: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.rate
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    # chat_id -> [remaining 429 answers, retry_after]
    _limits: dict[str, list[int]] = field(default_factory=dict)
    # remaining 5xx answers for any method
    _failures: int = 0
    _next_message_id: int = 1
    # Updates handed out by getUpdates (polling mode), oldest first.
    pending: list[dict[str, Any]] = field(default_factory=list)
    # Chats whose user blocked the bot: sends answer 403.
    blocked: set[str] = field(default_factory=set)
    # With enforce_rate(): the bot-wide limit on sends, and how many sends it refused.
    bucket: Bucket | None = None
    throttled: int = 0
    # With hang(): how long each of the next sends stalls before it is processed.
    _hangs: list[float] = field(default_factory=list)

    def hang(self, seconds: float, times: int = 1) -> None:
        """Stall the next ``times`` sends and edits ``seconds`` before answering, as a Bot API
        that hangs. A stalled request whose client gives up is never processed (nothing sent),
        so a retry of it is not a duplicate."""
        self._hangs += [seconds] * times

    def rate_limit(self, chat_id: str | int, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` sends to ``chat_id`` with 429 Too Many Requests."""
        self._limits[str(chat_id)] = [times, retry_after]

    def enforce_rate(self, per_second: float) -> None:
        """Refuse sends beyond a token bucket of ``per_second`` (capacity and refill) with 429,
        as Telegram does past its broadcast limit."""
        self.bucket = Bucket(per_second)

    def block(self, chat_id: str | int) -> None:
        """The user of ``chat_id`` blocked the bot: every send to it answers 403."""
        self.blocked.add(str(chat_id))

    def sent_texts(self) -> list[Call]:
        """The sendMessage calls the fake accepted, in order."""
        return [c for c in self.calls if c.method == "sendMessage" and c.result is not None]

    def fail(self, times: int = 1) -> None:
        """Answer the next ``times`` calls with 502 Bad Gateway."""
        self._failures = times

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_post("/bot{token}/{method}", self._handle)
        return application

    def webhook_reply(self, body: dict[str, Any]) -> None:
        """Make the call a bot put in its answer to a webhook, as Telegram does
        (https://core.telegram.org/bots/api#making-requests-when-getting-updates)."""
        params = {k: v for k, v in body.items() if k != "method"}
        method = body["method"]
        self.calls.append(Call(method, params, at=time.monotonic()))
        answer = getattr(self, f"_{method}")
        self.calls[-1].result = answer(params, {})

    def of(self, method: str, chat_id: str | int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == str(chat_id))
        ]

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return error(401, "Unauthorized")
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            # Scalars as a form would carry them (JSON-dumped), so tests read both alike.
            params = {
                key: value if isinstance(value, (str, dict, list)) else json.dumps(value)
                for key, value in (await request.json()).items()
            }
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                elif key in JSON_PARAMS:
                    params[key] = json.loads(value)
                else:
                    params[key] = value
        chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
        self.calls.append(Call(method, params, files, at=time.monotonic(), chunked=chunked))
        hang = self._hangs.pop(0) if self._hangs and method.startswith(("send", "edit")) else 0
        if hang and not await stall(request, hang):
            return web.Response(status=499)  # the client went away: nothing was sent
        if self._failures > 0:
            self._failures -= 1
            return error(502, "Bad Gateway")
        limit = self._limits.get(str(params.get("chat_id")))
        if limit and limit[0] > 0 and method.startswith("send"):
            limit[0] -= 1
            return error(
                429,
                f"Too Many Requests: retry after {limit[1]}",
                parameters={"retry_after": limit[1]},
            )
        if method.startswith("send") and str(params.get("chat_id")) in self.blocked:
            return error(403, "Forbidden: bot was blocked by the user")
        if method.startswith("send") and self.bucket is not None and not self.bucket.take():
            self.throttled += 1
            return error(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return error(404, "Not Found")
        self.calls[-1].result = answer(params, files)
        return web.json_response({"ok": True, "result": self.calls[-1].result})

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        self._next_message_id += 1
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "from": BOT_USER,
            "chat": {"id": chat_id, "first_name": "User", "type": "private"},
            "date": NOW,
            **extra,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return self._message(params, text=params["text"])

    def _sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        attached = str(params["photo"]).removeprefix("attach://")
        size = len(files.get(attached, b""))
        photo = [
            {
                "file_id": f"photo-{self._next_message_id}",
                "file_unique_id": f"u{self._next_message_id}",
                "width": 320,
                "height": 320,
                "file_size": size,
            }
        ]
        extra: dict[str, Any] = {"photo": photo}
        if "caption" in params:
            extra["caption"] = params["caption"]
        return self._message(params, **extra)

    def _sendVenue(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        where = {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        venue = {"location": where, "title": params["title"], "address": params["address"]}
        return self._message(params, venue=venue, location=where)

    def _sendLocation(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        where = {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        return self._message(params, location=where)

    def _editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        message = self._message(params, text="…")
        message["message_id"] = int(params["message_id"])
        return message

    def _answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def _setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def _getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> list[Any]:
        offset = int(params.get("offset") or 0)
        # Telegram forgets every update below the offset the bot confirms.
        self.pending = [u for u in self.pending if u["update_id"] >= offset]
        return list(self.pending)

    def _deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def _setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def _getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return BOT_USER


def error(code: int, description: str, **extra: Any) -> web.Response:
    body = {"ok": False, "error_code": code, "description": description, **extra}
    return web.json_response(body, status=code)


async def stall(request: web.Request, seconds: float) -> bool:
    """Wait ``seconds``, or until the client closes the connection (then False): a hung server
    that lets a test end as soon as the client gave up."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if request.transport is None or request.transport.is_closing():
            return False
        await asyncio.sleep(0.05)
    return True
