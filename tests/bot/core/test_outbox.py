"""The outbox (bot/core/outbox.py): what a turn could not send is kept once per reply, claimed by
one sender at a time, removed only by the sender that holds it, and expires."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.messages import Choices, Image, Option, Text
from bot.core.outbox import Entry, Outbox
from bot.infra.keys import SessionKeys

IDENTITY = "telegram:42"


async def test_a_turn_run_again_puts_its_replies_once(redis: aioredis.Redis) -> None:
    outbox = Outbox(redis)
    replies = [Text("satu"), Choices("Pilih", (Option("a", "A"),))]
    assert await outbox.put("telegram", "42", "u1", replies) == 2
    # The same message's turn again (a lease taken over): nothing new.
    assert await outbox.put("telegram", "42", "u1", replies) == 2
    assert await outbox.pending(IDENTITY) == 2
    keys = SessionKeys(IDENTITY)
    for name in (keys.outbox, keys.outbox_ids):
        assert 0 < await redis.pttl(name) <= outbox.keep_ms


async def test_later_replies_go_behind_what_waits(redis: aioredis.Redis) -> None:
    outbox = Outbox(redis)
    assert await outbox.pending(IDENTITY) == 0
    await outbox.put("telegram", "42", "u1", [Text("first")], first_index=1)
    assert await outbox.put("telegram", "42", "u2", [Text("second")]) == 2
    token = outbox.new_token()
    entry = await outbox.claim(IDENTITY, token)
    assert isinstance(entry, Entry) and entry.id == "u1:1" and entry.message == Text("first")


async def test_one_sender_at_a_time_and_only_the_holder_removes(redis: aioredis.Redis) -> None:
    outbox = Outbox(redis)
    image = Image(b"\x89PNG\x00\xff", caption="A-001")
    await outbox.put("telegram", "42", "u1", [image, Text("dua")])
    mine, other = outbox.new_token(), outbox.new_token()
    entry = await outbox.claim(IDENTITY, mine)
    assert isinstance(entry, Entry) and entry.message == image
    assert await outbox.claim(IDENTITY, other) == "busy"
    assert not await outbox.done(IDENTITY, other, entry.id)
    assert await outbox.done(IDENTITY, mine, entry.id)
    # Removing the same entry twice removes nothing else.
    assert not await outbox.done(IDENTITY, mine, entry.id)
    second = await outbox.claim(IDENTITY, mine)
    assert isinstance(second, Entry) and second.message == Text("dua")
    # Told to wait: the claim stays for the wait; nobody else may send meanwhile.
    await outbox.release(IDENTITY, mine, hold_ms=60_000)
    assert await outbox.claim(IDENTITY, other) == "busy"
    assert isinstance(await outbox.claim(IDENTITY, mine), Entry)
    assert await outbox.done(IDENTITY, mine, second.id)
    assert await outbox.claim(IDENTITY, mine) == "empty"
    assert await outbox.claim(IDENTITY, other) == "empty"


def test_every_kind_of_message_survives_the_outbox() -> None:
    """A reply kept for later comes back as it was, whatever its kind."""
    from bot.core.messages import AskLocation, Location

    for message in (
        Text("satu"),
        Text("dua", ends_location_request=True),
        Choices("Pilih", (Option("a", "A", "x"),)),
        Image(b"png", caption="A-001"),
        Location(-6.2, 106.8, "Kanim", "Jl. Merdeka"),
        AskLocation("Bagikan lokasi", "📍 Lokasi", "lintang,bujur"),
    ):
        assert Entry.loads(Entry("m:0", "whatsapp", "62", message).dumps()).message == message
