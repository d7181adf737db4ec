"""Shared test helpers: a channel that records what the bot sent, and a driver for one user."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.booking.app import App
from bot.booking.reminders import due_reminders
from bot.booking.seats import Booking, number_plan
from bot.core.channel import Channel, Outcome
from bot.core.clock import ManualClock, ms
from bot.core.engine import Engine
from bot.core.messages import AskLocation, Choices, Image, Inbound, Location, Outbound, Text
from bot.infra.settings import load_settings
from handlers import build_steps

SECRET = "test-secret-key-that-is-long-enough-1234567890"
# Valid NIKs made up for tests (Central Jakarta, born 15 Aug 1985; a woman has day + 40).
NIK_MAN = "3171011508850001"
NIK_WOMAN = "3171015508850002"


@dataclass
class Recorder(Channel):
    """A channel that keeps what was sent to each user, in order."""

    name = "test"
    sent: dict[str, list[Outbound]] = field(default_factory=dict)

    async def send(self, user_id: str, messages: Sequence[Outbound]) -> None:
        self.sent.setdefault(user_id, []).extend(messages)


def make_app(redis: aioredis.Redis, clock: ManualClock, tmp_path: Path, **settings: Any) -> App:
    # Scripted users type faster than people; the rate limit has tests of its own.
    settings.setdefault("rate_limit_per_minute", 0)
    config = load_settings(secret_key=SECRET, var_dir=tmp_path, **settings)
    return App.build(config, redis, clock=clock)


async def confirm_booking(
    app: App,
    account: str,
    nik_hash: str,
    *,
    locale: str = "id",
    day_index: int = 0,
    capacity: int | None = None,
    remind: bool = False,
) -> Booking:
    """A booking made straight in the seat book (first service, first window of the
    ``day_index``-th bookable day), for tests about what happens after booking; with
    ``remind``, its reminders go on the due list as the desk puts them."""
    office = app.office
    day = office.bookable_days(app.clock.now())[day_index]
    window = office.windows(day)[0]
    service = office.services[0]
    return await app.seats.confirm(
        hold_id=app.codes.new_id(),
        day=day,
        service=service.id,
        window=window.id,
        default_capacity=window.capacity(service.id) if capacity is None else capacity,
        prefix=service.prefix,
        account=account,
        max_active=1,
        nik_hash=nik_hash,
        nik_last4="0001",
        name="Budi Santoso",
        locale=locale,
        reminders=due_reminders(office, day, window.id, ms(app.clock.now())) if remind else (),
        windows=number_plan(office.windows(day), service.id),
    )


def said(recorder: Recorder, user_id: str) -> list[str]:
    """The texts a user was sent (a question's text included), one per message."""
    return [m.text for m in recorder.sent.get(user_id, []) if isinstance(m, Text | Choices)]


def text_of(message: Outbound) -> str:
    if isinstance(message, Image):
        return f"[image {message.caption}]"
    if isinstance(message, Choices):
        return message.text + "".join(
            f"\n{i}. {o.title} ({o.description})" for i, o in enumerate(message.options, 1)
        )
    if isinstance(message, Location):
        return message.as_text()
    if isinstance(message, AskLocation):
        return f"{message.text} [{message.button}]"
    assert isinstance(message, Text)
    return message.text


class User:
    """One user typing into the bot through the engine, as a channel would deliver it."""

    def __init__(self, engine: Engine, recorder: Recorder, user_id: str = "1001") -> None:
        self.engine = engine
        self.recorder = recorder
        self.user_id = user_id
        self.count = 0

    async def say(self, text: str = "", option: str | None = None) -> list[Outbound]:
        self.count += 1
        before = len(self.recorder.sent.get(self.user_id, []))
        inbound = Inbound("console", self.user_id, f"{self.user_id}-{self.count}", text, option)
        outcome: Outcome = await self.engine.handle(inbound)
        assert outcome == "handled"
        return self.recorder.sent[self.user_id][before:]

    async def says(self, text: str = "", option: str | None = None) -> str:
        return "\n".join(text_of(m) for m in await self.say(text, option))

    def last_choices(self) -> Choices:
        for message in reversed(self.recorder.sent[self.user_id]):
            if isinstance(message, Choices):
                return message
        raise AssertionError("no options were offered")


def make_engine(app: App) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    return Engine(app, build_steps(), {"console": recorder}), recorder


async def start_worker(env: Mapping[str, str], *args: str) -> asyncio.subprocess.Process:
    """``antrean worker --quiet`` in a process group of its own: a test simulates a crash by
    killing the group, the worker and the RQ scheduler process it starts, as a dying machine
    would."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "worker",
        "--quiet",
        *args,
        env=dict(env),
        start_new_session=True,
    )


async def hold_and_book(app: App, office_id: str, account: str, nik: str) -> Booking:
    """Hold a seat at ``office_id`` for ``account`` and confirm it through the office's desk."""
    s = app.at(office_id)
    day = s.office.bookable_days(app.clock.now())[0]
    window, service = s.office.windows(day)[0], s.office.services[0]
    hold_id = app.codes.new_id()
    await s.seats.hold(
        hold_id=hold_id,
        day=day,
        service=service.id,
        window=window.id,
        default_capacity=window.capacity(service.id),
        account=account,
        max_active=1,
        ttl_ms=600_000,
    )
    return await s.desk.book(
        hold_id=hold_id,
        day=day,
        service=service,
        window=window,
        account=account,
        nik_hash=app.niks.hash(nik),
        nik_last4=nik[-4:],
        name="Budi Santoso",
        locale="id",
    )
