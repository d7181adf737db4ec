"""Replies a turn could not send in its time, kept in Redis for a worker to send later.

A turn's sends end at its deadline (``ANTREAN_SEND_SECONDS``), well within the user's lease:
a Bot API that hangs or a 429 that asks for 29 s must not hold the webhook, nor let the lease
expire and a second process run the message again. What did not go out is put here instead and
a worker's job sends it (asked for through :class:`bot.core.jobs.Jobs`), waiting what the
platform asked for.

Keys, all in the user's ``{u:<identity>}`` slot (bot.infra.keys.SessionKeys):

- ``outbox``: list of entries ``{"id", "c", "u", "m"}`` in the order they must reach the user;
  ``id`` is ``<inbound message id>:<reply index>``;
- ``outbox_ids``: set of the ids ever put, so that a turn run again (a lease taken over) cannot
  put the same reply twice;
- ``outbox_claim``: the token of the one sender working on the head entry, with an expiry.

Order: while the outbox holds anything, a later turn's replies go behind it instead of out at
once, so one user's replies arrive in turn order. The session's ``begin`` script says whether it
holds anything (bot/core/sessions.py, no round trip of its own): only the user's lease holder puts
entries and a sender only removes them, so an outbox empty when the turn began stays empty until
the turn puts something.

An entry leaves the outbox only after the platform accepted it, so a sender that dies sends it
again: at least once, exactly once unless the platform accepted a request whose answer was lost.
Every key expires (:data:`KEEP_MS`): entries hold user text.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.core import fastjson
from bot.core.messages import AskLocation, Choices, Image, Location, Option, Outbound, Text
from bot.errors import StorageError
from bot.infra.keys import SessionKeys

# A reply still not out after a day is not worth sending any more.
KEEP_MS = 86_400_000
# How long a sender may work on one entry before another may take it over.
CLAIM_MS = 60_000

# Put entries at the end of the outbox, each once.
#   KEYS[1] outbox  KEYS[2] ids
#   ARGV[1] keep (ms)   ARGV[2..] pairs of entry id, entry
# Returns how many entries the outbox holds afterwards.
PUT = """
for i = 2, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return redis.call('LLEN', KEYS[1])
"""

# Claim the head entry for one sender.
#   KEYS[1] outbox  KEYS[2] claim   ARGV[1] token  ARGV[2] claim length (ms)
# Returns {'entry', entry} | {'busy'} (another sender holds it) | {'empty'}.
CLAIM = """
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'busy'} end
local entry = redis.call('LINDEX', KEYS[1], 0)
if not entry then
  redis.call('DEL', KEYS[2])
  return {'empty'}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {'entry', entry}
"""

# The head entry went out: remove it, if we still hold the claim and it is still the head.
#   KEYS[1] outbox  KEYS[2] claim   ARGV[1] token  ARGV[2] entry id
# Returns 1 when removed, 0 otherwise.
DONE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local head = redis.call('LINDEX', KEYS[1], 0)
if head and cjson.decode(head)['id'] == ARGV[2] then
  redis.call('LPOP', KEYS[1])
  return 1
end
return 0
"""

# Give the claim up, or keep it for a while: a sender told to wait by the platform holds the
# head back for the wait (so that no other sender tries it meanwhile) and comes back with the
# same token.
#   KEYS[1] claim   ARGV[1] token   ARGV[2] hold (ms; 0 gives the claim up)
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""


def dump_message(message: Outbound) -> dict[str, Any]:
    if isinstance(message, Text):
        text: dict[str, Any] = {"k": "text", "text": message.text}
        if message.ends_location_request:
            text["end_loc"] = 1
        return text
    if isinstance(message, Choices):
        options = [[o.id, o.title, o.description] for o in message.options]
        return {"k": "choices", "text": message.text, "options": options}
    if isinstance(message, Location):
        return {
            "k": "location",
            "lat": message.lat,
            "lon": message.lon,
            "name": message.name,
            "address": message.address,
        }
    if isinstance(message, AskLocation):
        return {
            "k": "ask_location",
            "text": message.text,
            "button": message.button,
            "typed": message.typed,
        }
    return {
        "k": "image",
        "data": base64.b64encode(message.data).decode(),
        "caption": message.caption,
        "filename": message.filename,
        "mime": message.mime,
    }


def load_message(data: dict[str, Any]) -> Outbound:
    if data["k"] == "text":
        return Text(str(data["text"]), bool(data.get("end_loc")))
    if data["k"] == "choices":
        options = tuple(Option(str(i), str(t), str(d)) for i, t, d in data["options"])
        return Choices(str(data["text"]), options)
    if data["k"] == "location":
        return Location(
            float(data["lat"]), float(data["lon"]), str(data["name"]), str(data["address"])
        )
    if data["k"] == "ask_location":
        return AskLocation(str(data["text"]), str(data["button"]), str(data["typed"]))
    return Image(
        base64.b64decode(data["data"]),
        caption=str(data["caption"]),
        filename=str(data["filename"]),
        mime=str(data["mime"]),
    )


@dataclass(frozen=True)
class Entry:
    id: str
    channel: str
    user_id: str
    message: Outbound

    def dumps(self) -> str:
        doc = {"id": self.id, "c": self.channel, "u": self.user_id, "m": dump_message(self.message)}
        return fastjson.dumps(doc)

    @classmethod
    def loads(cls, raw: str | bytes) -> Entry:
        doc = fastjson.loads(raw)
        return cls(str(doc["id"]), str(doc["c"]), str(doc["u"]), load_message(doc["m"]))


class Outbox:
    """One script call per operation, each in one user's slot."""

    def __init__(self, redis: aioredis.Redis, *, keep_ms: int = KEEP_MS) -> None:
        self.redis = redis
        self.keep_ms = keep_ms
        self._put = redis.register_script(PUT)
        self._claim = redis.register_script(CLAIM)
        self._done = redis.register_script(DONE)
        self._release = redis.register_script(RELEASE)

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(8)

    async def put(
        self,
        channel: str,
        user_id: str,
        message_id: str,
        replies: Sequence[Outbound],
        *,
        first_index: int = 0,
    ) -> int:
        """Put ``replies`` (the turn's replies from ``first_index`` on) behind what the outbox
        holds; return how many entries it holds then."""
        if not replies:
            return 0
        args: list[str | int] = [self.keep_ms]
        for index, message in enumerate(replies, first_index):
            entry = Entry(f"{message_id}:{index}", channel, user_id, message)
            args += [entry.id, entry.dumps()]
        keys = SessionKeys(f"{channel}:{user_id}")
        return int(await self._run(self._put, [keys.outbox, keys.outbox_ids], args))

    async def claim(self, identity: str, token: str) -> Entry | str:
        """The head entry, now ours to send; or "busy" (another sender has it) or "empty"."""
        keys = SessionKeys(identity)
        reply = await self._run(self._claim, [keys.outbox, keys.outbox_claim], [token, CLAIM_MS])
        status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        if status == "entry":
            return Entry.loads(reply[1])
        return status

    async def done(self, identity: str, token: str, entry_id: str) -> bool:
        keys = SessionKeys(identity)
        return bool(
            await self._run(self._done, [keys.outbox, keys.outbox_claim], [token, entry_id])
        )

    async def hold(self, identity: str, token: str, hold_ms: int) -> bool:
        """Claim the outbox for ``token`` for ``hold_ms`` unless a sender has it: the platform
        asked to wait, so no sender may try before the one scheduled with ``token``."""
        try:
            key = SessionKeys(identity).outbox_claim
            return bool(await self.redis.set(key, token, px=max(1, hold_ms), nx=True))
        except (RedisError, OSError) as exc:
            raise StorageError(f"outbox: {exc}") from exc

    async def release(self, identity: str, token: str, hold_ms: int = 0) -> None:
        """Give the claim up, or (``hold_ms``) keep it that long for a retry with ``token``."""
        await self._run(self._release, [SessionKeys(identity).outbox_claim], [token, hold_ms])

    async def pending(self, identity: str) -> int:
        try:
            return int(await self.redis.llen(SessionKeys(identity).outbox))
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not read the outbox: {exc}") from exc

    @staticmethod
    async def _run(script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StorageError(f"outbox: {exc}") from exc
