from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as aioredis

from bot.core.clock import ManualClock
from bot.infra.embedded import RedisServer, free_port
from bot.web import build_web_app
from tests.support import make_app, make_engine
from tests.web_support import run_server


async def test_healthz_reports_redis(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    app = make_app(redis, clock, tmp_path)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 200 and response.json()["redis"] == "up"


async def test_healthz_is_503_when_redis_is_down(clock: ManualClock, tmp_path: Path) -> None:
    # A port nothing listens on stands for a Redis that went away.
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    app = make_app(dead, clock, tmp_path)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 503
    await dead.aclose()


async def test_metrics_count_updates_bookings_and_seats(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from bot.core.messages import Inbound

    app = make_app(redis, clock, tmp_path)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        before = await http.get(f"{base}/metrics")
        await engine.handle(Inbound("console", "m1", "metrics-1", "halo"))
        await engine.handle(Inbound("console", "m1", "metrics-1", "halo"))  # redelivered
        after = await http.get(f"{base}/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")

    def value(text: str, line_start: str) -> float:
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    handled = 'antrean_updates_total{channel="console",outcome="handled"}'
    duplicate = 'antrean_updates_total{channel="console",outcome="duplicate"}'
    assert value(after.text, handled) == value(before.text, handled) + 1
    assert value(after.text, duplicate) == value(before.text, duplicate) + 1
    day = app.office.bookable_days(clock.now())[0].isoformat()
    service = app.office.services[0].id
    seats = f'antrean_seats_left{{day="{day}",office="{app.office.id}",service="{service}"}}'
    assert value(after.text, seats) > 0
    assert "antrean_turn_seconds_bucket" in after.text


async def test_a_serving_process_leaves_its_start_up_heap_out_of_full_collections(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    import gc

    app = make_app(redis, clock, tmp_path)
    engine, _ = make_engine(app)
    assert gc.get_freeze_count() == 0
    try:
        async with run_server(build_web_app(app, engine, [], freeze=True)) as base:
            async with httpx.AsyncClient() as http:
                assert (await http.get(base + "/healthz")).status_code == 200
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_metrics_show_each_offices_series(
    redis: aioredis.Redis, clock: ManualClock, tmp_path: Path
) -> None:
    from bot.core.messages import Inbound
    from tests.handlers.test_network import network_folder
    from tests.support import NIK_MAN, NIK_WOMAN, hold_and_book

    app = make_app(redis, clock, tmp_path, offices=network_folder(tmp_path))
    engine, _ = make_engine(app)
    await hold_and_book(app, "kanim-jaksel", "console:7001", NIK_MAN)
    await hold_and_book(app, "kanim-makassar", "console:7002", NIK_WOMAN)
    for n, text in enumerate(("halo", "1", "jaksel", "1")):  # a turn at the chosen office
        await engine.handle(Inbound("console", "7003", f"m{n}", text))
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        text = (await http.get(f"{base}/metrics")).text
    for office in ("kanim-jaksel", "kanim-makassar"):
        assert f'antrean_booking_events_total{{event="booked",office="{office}"}}' in text
        day = app.at(office).office.bookable_days(clock.now())[0].isoformat()
        service = app.at(office).office.services[0].id
        assert f'antrean_seats_left{{day="{day}",office="{office}",service="{service}"}}' in text
    assert 'antrean_turn_seconds_count{channel="console",office="kanim-jaksel"}' in text
    # Before an office is chosen, a turn has none: never a label from what a user typed.
    assert 'antrean_turn_seconds_count{channel="console",office=""}' in text
    assert "7003" not in text


async def test_a_scrape_of_150_offices_is_one_round_trip(
    redis_server: RedisServer, clock: ManualClock, tmp_path: Path
) -> None:
    """``/metrics`` reads the seats of every office in one pipeline: a scrape costs Redis the
    same with 150 offices as with one (and one round trip more, plus the script's loading,
    on a server that does not know the script yet). The seats-left series are bounded as
    bot/infra/metrics.py says: offices x services x bookable days, nothing else."""
    from tests.counting import CountingRedis
    from tests.networks import write_offices
    from tests.support import NIK_MAN, hold_and_book

    client = CountingRedis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    folder = tmp_path / "many"
    folder.mkdir()
    write_offices(folder, 150)
    app = make_app(client, clock, tmp_path, offices=folder)
    booked = await hold_and_book(app, "office-077", "console:7001", NIK_MAN)
    engine, _ = make_engine(app)
    async with run_server(build_web_app(app, engine, [])) as base, httpx.AsyncClient() as http:
        await client.script_flush()
        client.round_trips = 0
        first = (await http.get(f"{base}/metrics")).text
        assert client.round_trips == 3  # refused (script unknown), SCRIPT LOAD, read again
        client.round_trips = 0
        text = (await http.get(f"{base}/metrics")).text
        assert client.round_trips == 1
    await client.aclose()
    series = [line for line in text.splitlines() if line.startswith("antrean_seats_left{")]
    assert series == [ln for ln in first.splitlines() if ln.startswith("antrean_seats_left{")]
    # Offices in three time zones may have different bookable days: each counts its own.
    expected = sum(
        len(s.office.services) * len(s.office.bookable_days(clock.now()))
        for s in app.offices.values()
    )
    assert len(series) == expected <= 150 * 3 * 14  # offices x services x days_ahead
    assert {line.split('office="')[1].split('"')[0] for line in series} == set(app.offices)

    def free(office_id: str) -> float:
        label = (
            f'{{day="{booked.day.isoformat()}",office="{office_id}",service="{booked.service}"}}'
        )
        [line] = [ln for ln in series if ln.startswith("antrean_seats_left" + label)]
        return float(line.split()[-1])

    assert free("office-077") == free("office-078") - 1
