"""The peer: the same booking conversation written directly on aiogram 3's FSM.

State lives in aiogram's ``RedisStorage`` with ``RedisEventIsolation`` (a Redis lock per chat);
seats go through the same seat book (one Lua script per hold and per confirm) and the same office
calendar and validation as Antrean, so that what differs is only the dialog machinery. Replies go
to a sink instead of the Bot API, as Antrean's do in the in-process benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from redis.asyncio import Redis

from bot.booking.codes import BookingCodes, qr_png
from bot.booking.nik import NikHasher, last4, validate_nik
from bot.booking.office import Office
from bot.booking.seats import SeatBook
from bot.core.text import validate_name
from bot.errors import InvalidInput

Sink = Callable[[int, str, list[str]], None]
MENU = ["book", "mine", "docs", "lang"]


class Replier:
    """How the peer answers: into a sink (in-process benchmark) or through the Bot API, the way
    a well-behaved aiogram bot does (inline keyboard, callback answered, old keyboard removed)."""

    def __init__(self, bot: Bot, sink: Sink | None) -> None:
        self.bot = bot
        self.sink = sink

    async def send(self, chat_id: int, text: str, options: list[str]) -> None:
        if self.sink is not None:
            self.sink(chat_id, text, options)
            return
        markup = None
        if options:
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=o, callback_data=o)] for o in options]
            )
        await self.bot.send_message(chat_id, text, reply_markup=markup)

    async def photo(self, chat_id: int, png: bytes, caption: str) -> None:
        if self.sink is None:
            await self.bot.send_photo(chat_id, BufferedInputFile(png, "qr.png"), caption=caption)

    async def tapped(self, query: CallbackQuery) -> None:
        if self.sink is not None:
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)


class Book(StatesGroup):
    service = State()
    day = State()
    window = State()
    nik = State()
    name = State()
    confirm = State()


def build_peer(
    redis: Redis,
    office: Office,
    seats: SeatBook,
    secret: bytes,
    sink: Sink | None,
    clock: Any,
    bot: Bot | None = None,
) -> tuple[Dispatcher, Bot]:
    codes, niks = BookingCodes(secret), NikHasher(secret)
    bot = bot or Bot("42:BENCHMARK")
    reply = Replier(bot, sink)
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        await reply.send(
            message.chat.id, "Apa yang ingin Anda lakukan?", ["book", "mine", "docs", "lang"]
        )

    @router.callback_query(F.data == "book")
    async def book(query: CallbackQuery, state: FSMContext) -> None:
        await reply.tapped(query)
        await state.set_state(Book.service)
        await reply.send(query.from_user.id, "Pilih layanan:", [s.id for s in office.services])

    @router.callback_query(Book.service)
    async def service(query: CallbackQuery, state: FSMContext) -> None:
        await reply.tapped(query)
        svc = query.data or ""
        days = office.bookable_days(clock.now())
        free = await seats.availability(
            [(d, svc, {w.id: w.capacity(svc) for w in office.windows(d)}) for d in days]
        )
        offered = [
            d.isoformat()
            for d, f in zip(days, free, strict=True)
            if any(a.free for a in f.values())
        ]
        await state.update_data(svc=svc)
        await state.set_state(Book.day)
        await reply.send(query.from_user.id, "Pilih tanggal:", offered)

    @router.callback_query(Book.day)
    async def day(query: CallbackQuery, state: FSMContext) -> None:
        await reply.tapped(query)
        data = await state.get_data()
        chosen = date.fromisoformat(query.data or "")
        svc = data["svc"]
        [free] = await seats.availability(
            [(chosen, svc, {w.id: w.capacity(svc) for w in office.windows(chosen)})]
        )
        await state.update_data(day=chosen.isoformat())
        await state.set_state(Book.window)
        await reply.send(query.from_user.id, "Pilih jam:", [w for w, a in free.items() if a.free])

    @router.callback_query(Book.window)
    async def window(query: CallbackQuery, state: FSMContext) -> None:
        await reply.tapped(query)
        data = await state.get_data()
        chosen = date.fromisoformat(data["day"])
        win = office.window(chosen, query.data or "")
        assert win is not None
        hold = codes.new_id()
        await seats.hold(
            hold_id=hold,
            day=chosen,
            service=data["svc"],
            window=win.id,
            default_capacity=win.capacity(data["svc"]),
            account=f"telegram:{query.from_user.id}",
            max_active=office.booking.max_active_per_account,
            ttl_ms=office.booking.hold_minutes * 60_000,
        )
        await state.update_data(win=win.id, hold=hold)
        await state.set_state(Book.nik)
        await reply.send(query.from_user.id, "Kursi Anda ditahan selama 10 menit.", [])
        await reply.send(query.from_user.id, "Ketik NIK Anda:", [])

    @router.message(Book.nik)
    async def enter_nik(message: Message, state: FSMContext) -> None:
        try:
            value = validate_nik(message.text or "", office.local_today(clock.now()))
        except InvalidInput:
            await reply.send(message.chat.id, "NIK tidak valid", [])
            return
        await state.update_data(nik_h=niks.hash(value), nik4=last4(value))
        await state.set_state(Book.name)
        await reply.send(message.chat.id, "Ketik nama lengkap:", [])

    @router.message(Book.name)
    async def enter_name(message: Message, state: FSMContext) -> None:
        try:
            name = validate_name(message.text or "")
        except InvalidInput:
            await reply.send(message.chat.id, "Nama tidak valid", [])
            return
        await state.update_data(name=name)
        await state.set_state(Book.confirm)
        await reply.send(message.chat.id, f"Konfirmasi {name}?", ["yes", "no"])

    @router.callback_query(Book.confirm, F.data == "yes")
    async def confirm(query: CallbackQuery, state: FSMContext) -> None:
        await reply.tapped(query)
        data = await state.get_data()
        chosen = date.fromisoformat(data["day"])
        win = office.window(chosen, data["win"])
        assert win is not None
        service = office.service(data["svc"])
        assert service is not None
        booking = await seats.confirm(
            hold_id=data["hold"],
            day=chosen,
            service=service.id,
            window=win.id,
            default_capacity=win.capacity(service.id),
            prefix=service.prefix,
            account=f"telegram:{query.from_user.id}",
            max_active=office.booking.max_active_per_account,
            nik_hash=data["nik_h"],
            nik_last4=data["nik4"],
            name=data["name"],
            locale="id",
        )
        await state.clear()
        code = codes.code(office.id, booking.id, booking.nik_hash)
        qr_png(code)  # Antrean sends the QR image too: same work on both sides
        await reply.send(
            query.from_user.id, f"Nomor antrean {booking.queue_number}, kode {code}", []
        )

    storage = RedisStorage(redis)
    dispatcher = Dispatcher(storage=storage, events_isolation=RedisEventIsolation(redis))
    dispatcher.include_router(router)
    return dispatcher, bot
