"""Regression (issue #12, finding 2): a signed WhatsApp message whose id holds a tab answered 500
and left the user wedged: later messages were acknowledged and never answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from tests.channels.drivers.whatsapp import WhatsAppDriver, open_driver, seen_of
from tests.fake_graph import envelope, text_message
from tests.invariants import assert_user_text_expires

MENU_QUESTION = "Apa yang ingin Anda lakukan?"


@pytest.fixture
async def wa(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[WhatsAppDriver]:
    async with open_driver(redis, clock, tmp_path) as driver:
        yield driver


@pytest.mark.parametrize("message_id", ["wamid.a\tb", "wamid.a|b|9|c", "wamid.12:x\t"])
async def test_an_odd_message_id_neither_fails_nor_wedges_the_user(
    wa: WhatsAppDriver, redis: aioredis.Redis, message_id: str
) -> None:
    response = await wa.post(envelope([text_message(wa.wa_id, "halo", message_id)]))
    if not message_id.isprintable():
        # A wamid is printable ASCII: one with a control character is refused at the door
        # (channels/whatsapp/payload.py) and nothing of it is kept. (The session store's
        # encoding copes with any id as well: tests/bot/core/test_sessions.py.)
        assert response.status_code == 400, response.text
        assert wa.fake.to(wa.wa_id) == []
    else:
        assert response.status_code == 200, response.text
        assert MENU_QUESTION in "\n".join(seen_of(wa.fake.to(wa.wa_id)).texts)
        # Meta delivers it again: recognised, not answered twice.
        before = len(wa.fake.to(wa.wa_id))
        response = await wa.post(envelope([text_message(wa.wa_id, "halo", message_id)]))
        assert response.status_code == 200 and len(wa.fake.to(wa.wa_id)) == before
    seen = await wa.type("menu")
    assert any(MENU_QUESTION in t for t in seen.texts), seen.texts
    await assert_user_text_expires(redis)
