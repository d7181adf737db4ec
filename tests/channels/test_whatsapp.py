"""The WhatsApp channel against a fake Graph API and real webhook requests, all on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.booking.app import Context
from bot.core.channel import Notice
from bot.core.clock import ManualClock
from bot.core.dialog import MENU, Prompt, Reply, Steps
from bot.core.engine import Engine
from bot.core.messages import MAX_OPTION_BYTES, Choices, Image, Option, Text, option_token
from bot.errors import ChannelError, ConfigError
from bot.infra.embedded import RedisServer, free_port
from bot.infra.keys import ChannelKeys
from bot.infra.settings import load_settings
from bot.web import build_web_app
from channels.whatsapp import WhatsAppChannel
from channels.whatsapp.render import (
    MAX_BODY,
    MAX_ROW_TITLE,
    MORE_PREFIX,
    choices_payloads,
    shorten,
    split_text,
    text_payloads,
    unique_titles,
)
from handlers import build_steps
from handlers.menu import Language
from tests.channels.drivers.whatsapp import (
    WA_ID,
    WhatsAppDriver,
    graph_client,
    open_driver,
    seen_of,
)
from tests.fake_graph import (
    APP_SECRET,
    VERIFY_TOKEN,
    envelope,
    reply_message,
    run_fake_graph,
    signed,
    status_update,
    text_message,
    wamid,
)
from tests.support import make_app
from tests.web_support import run_server

OTHER = "6289876543210"


@pytest.fixture
async def wa(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[WhatsAppDriver]:
    async with open_driver(redis, clock, tmp_path) as driver:
        yield driver


async def user_keys(redis: aioredis.Redis) -> list[str]:
    keys = [str(k) for k in await redis.keys("*")]
    return sorted(k for k in keys if "{u:" in k)


# -- webhook: verification, authentication, parsing ---------------------------------------------


async def test_verification_echoes_the_challenge(wa: WhatsAppDriver) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = await wa.client.get("/webhook/whatsapp", params=query)
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


async def test_verification_with_a_wrong_token_is_refused(wa: WhatsAppDriver) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    response = await wa.client.get("/webhook/whatsapp", params=query)
    assert response.status_code == 403


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "md5=abc"])
async def test_unsigned_or_forged_posts_are_refused_and_store_nothing(
    wa: WhatsAppDriver, redis: aioredis.Redis, header: str | None
) -> None:
    body = json.dumps(envelope([text_message(WA_ID, "halo")])).encode()
    headers = {"Content-Type": "application/json"}
    if header:
        headers["X-Hub-Signature-256"] = header
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=headers)
    assert response.status_code == 403
    assert await user_keys(redis) == []
    assert wa.fake.requests == []


async def test_a_body_signed_with_another_secret_is_refused(wa: WhatsAppDriver) -> None:
    body = json.dumps(envelope([text_message(WA_ID, "halo")])).encode()
    headers = signed(body, secret="not-our-secret")
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize("body", [b"{not json", b'{"object": "page", "entry": []}', b"[1, 2]"])
async def test_malformed_or_foreign_bodies_are_bad_requests(
    wa: WhatsAppDriver, body: bytes
) -> None:
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 400


async def test_an_envelope_of_an_unexpected_shape_is_acknowledged(wa: WhatsAppDriver) -> None:
    payload = {"object": "whatsapp_business_account", "entry": ["x", {"changes": "y"}]}
    body = json.dumps(payload).encode()
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 200
    assert wa.fake.requests == []


async def test_an_oversized_body_is_refused(wa: WhatsAppDriver) -> None:
    body = b" " * (3 * 1024 * 1024 + 1)
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 413


def user_tag(wa_id: str) -> str:
    """The hash tag of a WhatsApp user's keys (bot.infra.keys.ChannelKeys)."""
    return ChannelKeys("whatsapp", wa_id).tag


def media_message(kind: str, wa_id: str = WA_ID) -> dict[str, Any]:
    """A message the dialog cannot read: a photo, a sticker, a location..."""
    content: dict[str, Any] = {
        "image": {"mime_type": "image/jpeg", "sha256": "abc", "id": "1234"},
        "sticker": {"mime_type": "image/webp", "sha256": "abc", "id": "5678", "animated": False},
        "location": {"latitude": -6.2, "longitude": 106.8},
        "document": {"filename": "ktp.pdf", "mime_type": "application/pdf", "id": "9"},
        "unsupported": {},
    }[kind]
    message = {"from": wa_id, "id": wamid(), "timestamp": "1893456000", "type": kind}
    if kind == "unsupported":
        message["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    else:
        message[kind] = content
    return message


@pytest.mark.parametrize("kind", ["image", "sticker", "location", "document", "unsupported"])
async def test_other_message_kinds_are_answered_once_by_the_engine(
    wa: WhatsAppDriver, kind: str
) -> None:
    await wa.type("halo")
    before = len(wa.fake.to(WA_ID))
    message = media_message(kind)
    for _ in range(5):  # Meta redelivers
        assert (await wa.post(envelope([message]))).status_code == 200
    seen = seen_of(wa.fake.to(WA_ID)[before:])
    # One answer: the engine cannot read it, and asks its question again.
    assert len(seen.texts) == 1
    assert "hanya bisa membaca teks" in seen.all_text and "Ambil antrean" in seen.options


async def test_stickers_count_in_the_rate_limit(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with open_driver(
        redis, clock, tmp_path, rate_limit_per_minute=5, rate_limit_burst=5
    ) as wa:
        for _ in range(40):
            assert (await wa.post(envelope([media_message("sticker")]))).status_code == 200
        # Five answered, one cool-down notice, the rest silenced; taps too.
        assert len(wa.fake.to(WA_ID)) == 6
        tap = reply_message(WA_ID, "button_reply", "book", "Ambil")
        assert (await wa.post(envelope([tap]))).status_code == 200
        assert len(wa.fake.to(WA_ID)) == 6


LIST = {"type": "list_reply", "list_reply": ["id"]}
MALFORMED = [
    # Meta signs only UTF-8 JSON: a lone surrogate can never come from it, nor be stored.
    json.dumps(envelope([text_message(WA_ID, "\ud800")])).encode(),
    json.dumps(envelope([text_message("62812\ud800", "halo")])).encode(),
    json.dumps(envelope(statuses=[status_update("wamid.1", "\ud800", "delivered")])).encode(),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    json.dumps(envelope([{**text_message(WA_ID, "x"), "text": "x"}])).encode(),
    json.dumps(envelope([{**text_message(WA_ID, "x"), "type": "button", "button": "x"}])).encode(),
    json.dumps(
        envelope([{**reply_message(WA_ID, "list_reply", "a", "A"), "interactive": LIST}])
    ).encode(),
    json.dumps(envelope([{**text_message(WA_ID, "x"), "from": 6281234567890}])).encode(),
    json.dumps(envelope([{**text_message(WA_ID, "x"), "id": "wamid.a\tb"}])).encode(),
    json.dumps(
        envelope(statuses=[{**status_update("w.1", WA_ID, "failed"), "errors": "x"}])
    ).encode(),
    b"\xff\xfe{}",
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_signed_bodies_are_bad_requests_and_store_nothing(
    wa: WhatsAppDriver, redis: aioredis.Redis, body: bytes
) -> None:
    response = await wa.client.post("/webhook/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 400
    assert await user_keys(redis) == []
    assert wa.fake.requests == []


async def test_other_webhook_fields_are_acknowledged_and_ignored(wa: WhatsAppDriver) -> None:
    payload = envelope([text_message(WA_ID, "halo")])
    change = payload["entry"][0]["changes"][0]
    change["field"] = "message_template_status_update"
    change["value"] = {"event": "APPROVED", "message_template_id": 12, "messages": "not ours"}
    assert (await wa.post(payload)).status_code == 200
    assert wa.fake.requests == []


async def test_whatsapp_errors_are_logged_by_code_and_title_only(
    wa: WhatsAppDriver, caplog: pytest.LogCaptureFixture
) -> None:
    payload = envelope()
    payload["entry"][0]["changes"][0]["value"]["errors"] = [
        {
            "code": 131000,
            "title": "Something went wrong",
            "message": "Something went wrong",
            "error_data": {"details": "recipient +62 812-3456-7890 could not be reached"},
        }
    ]
    with caplog.at_level(logging.INFO, logger="channels.whatsapp"):
        assert (await wa.post(payload)).status_code == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "channels.whatsapp"]
    assert "131000" in line and "Something went wrong" in line
    assert "3456" not in line and "details" not in line


async def test_statuses_never_reach_the_dialog(wa: WhatsAppDriver, redis: aioredis.Redis) -> None:
    statuses: list[dict[str, Any]] = [
        {"id": "wamid.1", "status": "delivered", "timestamp": "1", "recipient_id": WA_ID},
        {
            "id": "wamid.2",
            "status": "failed",
            "timestamp": "2",
            "recipient_id": WA_ID,
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    response = await wa.post(envelope(statuses=statuses))
    assert response.status_code == 200
    assert wa.fake.requests == []
    # Only the delivery states were kept: no session, and no template for an unknown message.
    assert await user_keys(redis) == [f"{user_tag(WA_ID)}:delivery"]
    assert await wa.channel.delivery(WA_ID, "wamid.1") == "delivered"
    assert await wa.channel.delivery(WA_ID, "wamid.2") == "failed"


async def test_statuses_keep_the_furthest_delivery_state_for_a_week(
    wa: WhatsAppDriver, redis: aioredis.Redis
) -> None:
    await wa.channel.send(WA_ID, [Text("A-001")])
    wamid_ = wa.fake.requests[-1]["id"]
    # Meta does not promise the order: "read" may overtake "delivered".
    for state in ("sent", "read", "delivered"):
        response = await wa.post(envelope(statuses=[status_update(wamid_, WA_ID, state)]))
        assert response.status_code == 200
    assert await wa.channel.delivery(WA_ID, wamid_) == "read"
    key = f"{user_tag(WA_ID)}:delivery"
    assert 6 * 86400 < await redis.ttl(key) <= 7 * 86400
    assert not await redis.exists(f"{user_tag(WA_ID)}:session")
    assert len(wa.fake.requests) == 1


async def test_a_message_delivered_three_times_has_one_effect(wa: WhatsAppDriver) -> None:
    message = text_message(WA_ID, "halo")
    for _ in range(3):
        assert (await wa.post(envelope([message]))).status_code == 200
    seen = seen_of(wa.fake.to(WA_ID))
    assert sum("Selamat datang" in text for text in seen.texts) == 1


async def test_several_messages_from_two_users_in_one_request(wa: WhatsAppDriver) -> None:
    messages = [
        text_message(WA_ID, "halo"),
        text_message(OTHER, "halo"),
        reply_message(WA_ID, "list_reply", "docs", "Persyaratan"),
        text_message(OTHER, "language"),
    ]
    assert (await wa.post(envelope(messages))).status_code == 200
    first = seen_of(wa.fake.to(WA_ID))
    assert "Selamat datang" in first.all_text
    # The tap was handled after the greeting, in order: the user is asked which service.
    assert first.texts[-1] == "Persyaratan untuk layanan apa?"
    assert "Paspor baru" in first.options
    other = seen_of(wa.fake.to(OTHER))
    assert "Selamat datang" in other.all_text and "English" in other.options


async def test_the_last_inbound_time_is_kept_in_the_users_slot(
    wa: WhatsAppDriver, redis: aioredis.Redis, clock: ManualClock
) -> None:
    await wa.type("halo")
    assert int(str(await redis.get(f"{user_tag(WA_ID)}:lastin"))) == int(
        clock.now().timestamp() * 1000
    )


async def test_the_more_row_pages_through_long_lists(wa: WhatsAppDriver) -> None:
    options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 26)]
    await wa.channel.send(WA_ID, [Choices("Pilih satu", options)])
    first = seen_of(wa.fake.to(WA_ID))
    assert first.options[:9] == [f"Pilihan {i}" for i in range(1, 10)]
    assert len(first.options) == 10
    seen = await wa.choose(10)  # the "more" row
    assert seen.options[:9] == [f"Pilihan {i}" for i in range(10, 19)]
    seen = await wa.choose(10)
    assert seen.options == [f"Pilihan {i}" for i in range(19, 26)]


async def test_more_rows_are_de_duplicated_and_rate_limited_like_any_message(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    """Issue #12, finding 4: a "more" tap is a message like any other, admitted by the engine."""
    async with open_driver(
        redis, clock, tmp_path, rate_limit_per_minute=5, rate_limit_burst=5
    ) as wa:
        options = [Option(f"o{i}", f"Pilihan {i}") for i in range(1, 26)]
        await wa.channel.send(WA_ID, [Choices("Pilih satu", options)])
        sent = len(wa.fake.to(WA_ID))
        more = reply_message(WA_ID, "list_reply", f"{MORE_PREFIX}1", "Lainnya")
        for _ in range(5):  # Meta redelivers the same message
            assert (await wa.post(envelope([more]))).status_code == 200
        assert len(wa.fake.to(WA_ID)) == sent + 1
        for _ in range(40):
            tap = reply_message(WA_ID, "list_reply", f"{MORE_PREFIX}1", "Lainnya")
            assert (await wa.post(envelope([tap]))).status_code == 200
        # Four more pages fit in the bucket's burst, then one notice, then nothing.
        assert len(wa.fake.to(WA_ID)) == sent + 1 + 4 + 1


# -- outbound: sending and the Graph API's errors -------------------------------------------------


async def test_an_image_is_uploaded_then_sent_by_media_id(wa: WhatsAppDriver) -> None:
    await wa.channel.send(WA_ID, [Image(b"\x89PNG fake", caption="A-001")])
    upload, message = wa.fake.requests
    assert upload["path"].endswith("/media")
    assert upload["form"] == {"messaging_product": "whatsapp", "type": "image/png"}
    assert upload["file_size"] == 9
    assert message["json"]["type"] == "image"
    assert message["json"]["image"]["caption"] == "A-001"
    assert message["json"]["image"]["id"].startswith("media.")


async def test_a_throttled_recipient_does_not_delay_another(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    sleeping = asyncio.Event()
    release = asyncio.Event()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        sleeping.set()
        await release.wait()

    async with open_driver(redis, clock, tmp_path, sleep=sleep) as wa:
        wa.fake.fail(WA_ID, 130429, times=1)
        slow = asyncio.create_task(wa.channel.send(WA_ID, [Text("satu")]))
        await asyncio.wait_for(sleeping.wait(), 5)
        # While the first recipient backs off, the second one's message goes straight out.
        await asyncio.wait_for(wa.channel.send(OTHER, [Text("dua")]), 5)
        assert [m["text"]["body"] for m in wa.fake.to(OTHER)] == ["dua"]
        assert not slow.done()
        release.set()
        await asyncio.wait_for(slow, 5)
        assert len(wa.fake.to(WA_ID)) == 2  # refused once, then sent
        assert delays == [1.0]


async def test_pair_rate_limit_is_retried_after_backing_off(wa: WhatsAppDriver) -> None:
    wa.fake.fail(WA_ID, 131056, times=2)
    await wa.channel.send(WA_ID, [Text("halo")])
    assert len(wa.fake.to(WA_ID)) == 3


async def test_an_undeliverable_recipient_is_marked_and_not_retried(
    wa: WhatsAppDriver, redis: aioredis.Redis
) -> None:
    wa.fake.fail(WA_ID, 131026, times=5)
    with pytest.raises(ChannelError) as caught:
        await wa.channel.send(WA_ID, [Text("halo")])
    assert caught.value.code == "undeliverable"
    assert len(wa.fake.to(WA_ID)) == 1
    assert await wa.channel.undeliverable(WA_ID)
    assert await redis.exists(f"{user_tag(WA_ID)}:undeliverable")


async def test_transient_errors_are_retried_a_bounded_number_of_times(wa: WhatsAppDriver) -> None:
    wa.fake.fail(WA_ID, 131000, times=2)
    await wa.channel.send(WA_ID, [Text("halo")])
    assert len(wa.fake.to(WA_ID)) == 3
    wa.fake.fail(OTHER, 131000, times=10)
    with pytest.raises(ChannelError):
        await wa.channel.send(OTHER, [Text("halo")])
    assert len(wa.fake.to(OTHER)) == 3


async def test_an_expired_token_fails_loudly_once(
    wa: WhatsAppDriver, caplog: pytest.LogCaptureFixture
) -> None:
    wa.fake.fail(WA_ID, 190, times=2)
    with caplog.at_level(logging.ERROR, logger="channels.whatsapp"):
        for _ in range(2):
            with pytest.raises(ChannelError) as caught:
                await wa.channel.send(WA_ID, [Text("halo")])
            assert caught.value.code == "190"
    assert len([r for r in caplog.records if "token" in r.getMessage()]) == 1
    assert len(wa.fake.to(WA_ID)) == 2


async def test_a_failed_send_does_not_fail_the_webhook(wa: WhatsAppDriver) -> None:
    # The turn is saved; the lost reply is recovered by the user's next message.
    wa.fake.fail(WA_ID, 131026, times=10)
    response = await wa.post(envelope([text_message(WA_ID, "halo")]))
    assert response.status_code == 200


# -- the 24-hour window ---------------------------------------------------------------------------


async def test_notify_inside_the_window_is_free_form(
    wa: WhatsAppDriver, clock: ManualClock
) -> None:
    await wa.type("halo")
    clock.advance(timedelta(hours=23))
    before = len(wa.fake.to(WA_ID))
    notice = Notice("Besok jam 08:00", template="antrean_reminder", params=("A-001",), locale="id")
    await wa.channel.notify(WA_ID, notice)
    [sent] = wa.fake.to(WA_ID)[before:]
    assert sent["type"] == "text" and sent["text"]["body"] == "Besok jam 08:00"


async def test_a_user_silent_for_25_hours_gets_the_template(
    wa: WhatsAppDriver, clock: ManualClock
) -> None:
    await wa.type("halo")
    clock.advance(timedelta(hours=25))
    wa.fake.outside_window.add(WA_ID)
    before = len(wa.fake.to(WA_ID))
    await wa.channel.notify(
        WA_ID, Notice("Besok jam 08:00", template="antrean_reminder", params=("A-001", "08:00"),
        locale="en"),
    )  # fmt: skip
    [sent] = wa.fake.to(WA_ID)[before:]
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "antrean_reminder",
        "language": {"code": "en"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "A-001"},
                    {"type": "text", "text": "08:00"},
                ],
            }
        ],
    }


async def test_a_notice_with_a_button_is_the_button_inside_the_window_and_else_the_template(
    wa: WhatsAppDriver, clock: ManualClock
) -> None:
    """A closed day's notice (bot/core/channel.py Notice.messages): its button inside the window,
    its template (the text as the one parameter) outside it."""
    text = "Hari Rabu ditutup."
    notice = Notice(
        text,
        template="antrean_notice",
        params=(text,),
        locale="id",
        messages=(Choices(text, (Option("book", "Ambil antrean lagi"),)),),
    )
    await wa.type("halo")
    before = len(wa.fake.to(WA_ID))
    await wa.channel.notify(WA_ID, notice)
    [button] = wa.fake.to(WA_ID)[before:]
    assert button["type"] == "interactive"
    clock.advance(timedelta(hours=25))
    await wa.channel.notify(WA_ID, notice)
    [_, template] = wa.fake.to(WA_ID)[before:]
    assert template["type"] == "template" and template["template"]["name"] == "antrean_notice"
    assert template["template"]["components"][0]["parameters"] == [{"type": "text", "text": text}]


async def test_a_notice_failed_later_with_131047_gets_the_template_once(
    wa: WhatsAppDriver, redis: aioredis.Redis
) -> None:
    await wa.type("halo")
    wa.fake.outside_window_later.add(WA_ID)  # Meta accepts the text, then reports it failed
    before = len(wa.fake.to(WA_ID))
    notice = Notice("Besok jam 08:00", template="antrean_reminder", params=("A-001",), locale="en")
    await wa.channel.notify(WA_ID, notice)
    [text] = wa.fake.to(WA_ID)[before:]
    assert text["type"] == "text"
    kept = f"{user_tag(WA_ID)}:fallback:{wa.fake.requests[-1]['id']}"
    assert 0 < await redis.ttl(kept) <= 86400
    [failed] = wa.fake.statuses
    for _ in range(2):  # Meta redelivers the status
        response = await wa.post(envelope(statuses=[failed]))
        assert response.status_code == 200
    [_, template] = wa.fake.to(WA_ID)[before:]
    assert template["template"] == {
        "name": "antrean_reminder",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-001"}]}],
    }
    assert not await redis.exists(kept)
    assert await wa.channel.delivery(WA_ID, failed["id"]) == "failed"


async def test_a_long_notice_failed_in_every_piece_gets_one_template(wa: WhatsAppDriver) -> None:
    await wa.type("halo")
    wa.fake.outside_window_later.add(WA_ID)
    before = len(wa.fake.to(WA_ID))
    text = "\n".join("x" * 1000 for _ in range(6))  # two messages
    await wa.channel.notify(WA_ID, Notice(text, template="antrean_notice", locale="id"))
    assert len(wa.fake.statuses) == 2
    response = await wa.deliver_statuses()
    assert response.status_code == 200
    sent = wa.fake.to(WA_ID)[before:]
    assert [m["type"] for m in sent] == ["text", "text", "template"]


async def test_free_form_refused_with_131047_is_retried_as_the_template(
    wa: WhatsAppDriver,
) -> None:
    await wa.type("halo")
    wa.fake.outside_window.add(WA_ID)  # Meta's clock says otherwise
    before = len(wa.fake.to(WA_ID))
    await wa.channel.notify(WA_ID, Notice("Info", template="antrean_notice", locale="id"))
    refused, sent = wa.fake.to(WA_ID)[before:]
    assert refused["type"] == "text"
    assert sent["type"] == "template" and sent["template"]["language"] == {"code": "id"}


# -- option ids -----------------------------------------------------------------------------------


# An id longer than any button may carry, as a handler could build from office, service and day.
LONG_ID = "office:jakarta-pusat/service:paspor-baru-elektronik/day:2030-03-05/w:".ljust(100, "x")


@dataclass
class LongIds:
    """A step offering an option with a 100-byte id (and ``extra`` short ones)."""

    extra: int
    answers: list[str | None] = field(default_factory=list)
    name: str = MENU
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        extra = [Option(f"o{i}", f"Lain {i}") for i in range(self.extra)]
        return Prompt("Pilih", [Option(LONG_ID, "Panjang"), Option("short", "Pendek"), *extra])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        self.answers.append(reply.option)
        return MENU


@pytest.mark.parametrize("extra", [0, 3])  # reply buttons, then a list
async def test_a_100_byte_option_id_travels_as_a_token_and_reaches_the_engine(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, extra: int
) -> None:
    assert len(LONG_ID.encode()) == 100
    step = LongIds(extra)
    steps = Steps()
    steps.add(step)
    steps.add(Language())  # the engine needs it
    async with open_driver(redis, clock, tmp_path, steps=steps) as wa:
        await wa.type("halo")
        [offer] = [m for m in wa.fake.to(WA_ID) if m["type"] == "interactive"]
        interactive = offer["interactive"]
        if interactive["type"] == "button":
            ids = [b["reply"]["id"] for b in interactive["action"]["buttons"]]
        else:
            ids = [r["id"] for r in interactive["action"]["sections"][0]["rows"]]
        assert interactive["type"] == ("button" if extra == 0 else "list")
        assert ids[0] == option_token(LONG_ID) and len(ids[0].encode()) <= MAX_OPTION_BYTES
        assert ids[1] == "short"
        await wa.choose(1)
        await wa.choose(2)
        assert step.answers == [LONG_ID, "short"]


# -- start-up check of the settings --------------------------------------------------------------


async def test_start_checks_the_token_and_phone_number_with_one_call(wa: WhatsAppDriver) -> None:
    # open_driver's web app started the channel.
    assert wa.fake.lookups == 1
    assert wa.fake.requests == []


async def test_a_bad_token_stops_the_start_naming_the_setting(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    async with run_fake_graph() as fake, graph_client(fake) as graph:
        fake.expire_token()
        channel = WhatsAppChannel(
            graph,
            phone_number_id=fake.phone_number_id,
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            redis=redis,
            clock=clock,
        )
        with pytest.raises(ConfigError, match="ANTREAN_WHATSAPP_TOKEN"):
            await channel.start()
        # The web app does not come up with it.
        app = make_app(redis, clock, tmp_path)
        engine = Engine(app, build_steps(), {"whatsapp": channel})
        with pytest.raises(ConfigError, match="ANTREAN_WHATSAPP_TOKEN"):
            async with run_server(build_web_app(app, engine, [channel])):
                pass
        assert fake.lookups == 2


async def test_an_unknown_phone_number_id_stops_the_start_naming_the_setting(
    redis: aioredis.Redis, clock: ManualClock
) -> None:
    async with run_fake_graph() as fake, graph_client(fake) as graph:
        channel = WhatsAppChannel(
            graph,
            phone_number_id="999",
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            redis=redis,
            clock=clock,
        )
        with pytest.raises(ConfigError, match="ANTREAN_WHATSAPP_PHONE_NUMBER_ID"):
            await channel.start()


# -- Redis outage -------------------------------------------------------------------------------


async def test_redis_down_answers_503_and_the_redelivery_completes(
    clock: ManualClock, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        async with open_driver(client, clock, tmp_path) as wa:
            server.stop()
            message = envelope([text_message(WA_ID, "halo")])
            assert (await wa.post(message)).status_code == 503
            status = envelope(statuses=[status_update("wamid.9", WA_ID, "delivered")])
            assert (await wa.post(status)).status_code == 503
            assert wa.fake.requests == []
            server = RedisServer(server.data_dir, port=server.port)
            server.start()
            codes = [(await wa.post(message)).status_code]
            # A pooled connection may still point at the old server once; the next try is fresh.
            if codes[-1] == 503:
                codes.append((await wa.post(message)).status_code)
            assert codes[-1] == 200
            assert "Selamat datang" in seen_of(wa.fake.to(WA_ID)).all_text
            # Meta would retry the 503 again later; by then it is a known duplicate.
            replied = len(wa.fake.requests)
            assert (await wa.post(message)).status_code == 200
            assert len(wa.fake.requests) == replied
            assert (await wa.post(status)).status_code == 200
            assert await wa.channel.delivery(WA_ID, "wamid.9") == "delivered"
    finally:
        await client.aclose()
        server.stop()


# -- rendering ------------------------------------------------------------------------------------


def test_up_to_three_short_options_are_reply_buttons() -> None:
    [payload] = choices_payloads(Choices("Lanjut?", [Option("yes", "Ya"), Option("no", "Tidak")]))
    interactive = payload["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Lanjut?"}
    assert interactive["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "yes", "title": "Ya"}},
        {"type": "reply", "reply": {"id": "no", "title": "Tidak"}},
    ]


def test_a_long_button_title_makes_a_list_that_shows_it_whole() -> None:
    options = [Option("a", "Perpanjangan paspor karena hilang"), Option("b", "Paspor baru")]
    [payload] = choices_payloads(Choices("Layanan?", options))
    interactive = payload["interactive"]
    assert interactive["type"] == "list"
    rows = interactive["action"]["sections"][0]["rows"]
    assert rows[0]["title"] == "Perpanjangan paspor…"
    assert rows[0]["description"] == "Perpanjangan paspor karena hilang"
    assert rows[1] == {"id": "b", "title": "Paspor baru"}
    assert len(interactive["action"]["button"]) <= 20


def test_four_to_ten_options_are_one_list() -> None:
    options = [Option(str(i), f"Hari {i}", "5 kursi") for i in range(10)]
    [payload] = choices_payloads(Choices("Tanggal?", options))
    rows = payload["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [str(i) for i in range(10)]
    assert rows[0]["description"] == "5 kursi"


def test_more_than_ten_options_are_paged() -> None:
    options = [Option(str(i), f"Jam {i}") for i in range(20)]
    [first] = choices_payloads(Choices("Jam?", options))
    rows = first["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10 and rows[-1]["id"] == f"{MORE_PREFIX}1"
    [second] = choices_payloads(Choices("Jam?", options), page=1)
    rows = second["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [str(i) for i in range(9, 18)] + [f"{MORE_PREFIX}2"]
    [third] = choices_payloads(Choices("Jam?", options), page=2)
    rows = third["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == ["18", "19"]


def test_shortening_cuts_on_a_word_boundary() -> None:
    assert shorten("Kantor Imigrasi Jakarta Pusat", 24) == "Kantor Imigrasi Jakarta…"
    assert shorten("Pendek", 24) == "Pendek"
    assert len(shorten("Supercalifragilisticexpialidocious", 20)) == 20


def test_shortened_titles_stay_unique() -> None:
    titles = [
        "Paspor baru elektronik 48 halaman",
        "Paspor baru elektronik 24 halaman",
        "Paspor anak",
    ]
    short = unique_titles(titles, MAX_ROW_TITLE)
    assert len(set(short)) == 3
    assert all(len(t) <= MAX_ROW_TITLE for t in short)
    assert short[2] == "Paspor anak"
    assert short[0].endswith("(1)") and short[1].endswith("(2)")


def test_a_long_body_sends_its_overflow_first() -> None:
    text = "\n".join(f"Baris {i} " + "x" * 50 for i in range(40))
    payloads = choices_payloads(Choices(text, [Option("a", "A"), Option("b", "B")]))
    assert [p["type"] for p in payloads] == ["text", "text", "interactive"]
    body = payloads[-1]["interactive"]["body"]["text"]
    assert len(body) <= MAX_BODY
    rebuilt = "\n".join([*(p["text"]["body"] for p in payloads[:-1]), body])
    assert rebuilt == text


def test_long_text_is_split_on_line_boundaries() -> None:
    text = "\n".join("y" * 1000 for _ in range(9))
    payloads = text_payloads(text)
    assert [len(p["text"]["body"]) for p in payloads] == [4003, 4003, 1000]
    assert all(p["text"]["preview_url"] is False for p in payloads)
    assert split_text("a " * 3000, 4096)[0].endswith("a")


# -- configuration --------------------------------------------------------------------------------


async def test_from_settings_builds_a_pooled_authenticated_client(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    settings = load_settings(
        var_dir=tmp_path,
        whatsapp_token="tok",
        whatsapp_phone_number_id="42",
        whatsapp_app_secret="s",
        whatsapp_verify_token="v",
    )
    channel = WhatsAppChannel.from_settings(settings, redis, clock)
    try:
        assert channel.client.headers["Authorization"] == "Bearer tok"
        assert str(channel.client.base_url) == "https://graph.facebook.com/v21.0/"
        assert channel.template_reminder == "antrean_reminder"
    finally:
        await channel.aclose()
    assert channel.client.is_closed


def test_from_settings_names_what_is_missing(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    settings = load_settings(var_dir=tmp_path, whatsapp_token="tok")
    with pytest.raises(ConfigError, match="ANTREAN_WHATSAPP_APP_SECRET"):
        WhatsAppChannel.from_settings(settings, redis, clock)
