"""``redis-sentinel://`` against a real Sentinel process watching the test Redis."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis

from bot.booking.seats import SeatBook
from bot.core.clock import ManualClock, ms
from bot.core.messages import Inbound
from bot.core.sessions import Session, SessionStore
from bot.infra.embedded import RedisServer, find_redis_server, free_port
from bot.infra.redis import client_for, sync_client_for


@pytest.fixture
def sentinel_url(redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor antrean 127.0.0.1 {redis_server.port} 1\n"
    )
    process = subprocess.Popen(
        [find_redis_server(), str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=port) as probe:
                    if probe.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "antrean"):
                        break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("sentinel did not come up")
        yield f"redis-sentinel://127.0.0.1:{port}/antrean"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_sessions_and_seats_through_sentinel(
    sentinel_url: str, redis_server: RedisServer, clock: ManualClock
) -> None:
    client = client_for(sentinel_url)
    await client.flushall()
    store = SessionStore(client)
    inbound = Inbound("telegram", "7", "m1", "halo")
    turn = await store.begin(inbound, ms(clock.now()))
    assert turn.status == "run"
    await store.finish("telegram:7", turn.token, Session("telegram:7", locale="en"), 0)
    assert (await store.begin(inbound, ms(clock.now()))).status == "duplicate"
    booking = await SeatBook(client, "kanim-sentinel", clock).confirm(
        hold_id="AB12CD",
        day=date(2030, 3, 5),
        service="paspor",
        window="0800-1000",
        default_capacity=1,
        prefix="A",
        account="telegram:7",
        max_active=1,
        nik_hash="n" * 32,
        nik_last4="0001",
        name="Budi",
        locale="id",
    )
    assert booking.queue_number == "A-001"
    # It really is the monitored server.
    with redis.Redis(port=redis_server.port) as direct:
        assert direct.exists("antrean:{u:telegram:7}:session")
        assert direct.exists("antrean:{o:kanim-sentinel}:booking:AB12CD")
    await client.aclose()
    # RQ's blocking client follows the same Sentinel.
    sync = sync_client_for(sentinel_url)
    assert sync.ping()
    sync.close()
